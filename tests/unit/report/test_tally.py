"""The report gathers what it shows one part file at a time (recycle/report/tally.py): on a known
small run whose part files differ (a column missing from one, null statuses, NaN scores, rows
whose texts did not change before rows whose did), it counts, bins, draws and picks what the
report built from all rows in one frame gave (the values below are that code's, at 33442e9)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from recycle import columns as C
from recycle.report import write_report
from recycle.report.build import load_examples, load_rows, template_drift
from recycle.report.figures import MAX_POINTS
from recycle.report.tally import tally_run
from recycle.rundir import build_manifest, count_outcomes, write_manifest, write_outcome_batch

# (outcome, reason, instruction taken, response taken, texts changed) of each row, per batch
BATCHES = {
    "a": [("dropped", "ifd_not_below_one", False, False, False)] * 3
    + [("kept", "", True, True, True), ("kept", "", False, False, False)] * 2
    + [("dropped", "rifd_not_below_one", True, False, True)] * 3,
    "b": [("dropped", "ifd_topk", False, True, True), ("kept", "", False, True, True)] * 4
    + [("dropped", "response_not_reflected", True, False, False)] * 2,
    "c": [("dropped", "ifd_not_below_one", True, True, True)] * 3
    + [("kept", "", True, False, True), ("dropped", "response_not_reflected", False, False, True)]
    * 3,
}


def _row(i: int, batch: str, outcome: str, reason: str, ins: bool, res: bool, new: bool) -> dict:
    x, y = f"Name {i} colours of the rainbow.", f"Red, orange and yellow ({i})."
    row = {
        C.SAMPLE_ID: f"{batch}{i:03d}",
        C.OUTCOME: outcome,
        C.REASON: reason,
        C.DETAIL: "",
        C.INSTRUCTION: x,
        C.INPUT: "",
        C.OUTPUT: y,
        C.FINAL_INSTRUCTION: f"List the colours of the rainbow ({i})." if new else x,
        C.FINAL_INPUT: "",
        C.FINAL_OUTPUT: y,
        C.scored(C.ORIG, C.IFD): np.nan if i == 5 else 0.6 + 0.03 * i,
        C.scored(C.ORIG, C.RIFD): 1.2 - 0.02 * i,
        C.scored(C.PAIR1, C.RIFD): 1.1 - 0.01 * i,
        C.FINAL_IFD: 0.5 + 0.04 * i,
        C.FINAL_RIFD: np.nan if i % 7 == 3 else 1.3 - 0.03 * i,
        C.INSTRUCTION_REFLECTED: ins,
        C.RESPONSE_REFLECTED: res,
        C.REFLECT_INSTRUCTION_STATUS: "ok" if ins or i % 3 else "no_markers",
        C.REFLECT_RESPONSE_STATUS: "ok" if res else None,
    }
    if batch == "b":  # another mode's file: no original r-IFD, no instruction step at all
        for name in (
            C.scored(C.ORIG, C.RIFD),
            C.INSTRUCTION_REFLECTED,
            C.REFLECT_INSTRUCTION_STATUS,
        ):
            del row[name]
    return row


def mixed_run(root: Path) -> Path:
    """30 scored rows in three batches (six part files) and two rejects, with a manifest."""
    i = 0
    for batch, kinds in BATCHES.items():
        rows = []
        for kind in kinds:
            rows.append(_row(i, batch, *kind))
            i += 1
        write_outcome_batch(pa.Table.from_pylist(rows), str(root), part_prefix=batch)
    rejects = [
        {C.SAMPLE_ID: "r1", C.OUTCOME: "rejected", C.REASON: "teacher_unavailable",
         C.DETAIL: "HTTP 503", C.INSTRUCTION: "Say hi.", C.INPUT: "", C.OUTPUT: "Hi."},
        {C.SAMPLE_ID: "a000", C.OUTCOME: "rejected", C.REASON: "duplicate", C.DETAIL: "row 3",
         C.RAW: '{"instruction": "Say hi.", "output": "Hi."}'},
    ]  # fmt: skip
    for row in rejects:
        write_outcome_batch(pa.Table.from_pylist([row]), str(root), part_prefix="validate")
    config = {"output": {"dir": str(root)}, "selection": {"mode": "selective"}}
    write_manifest(str(root), build_manifest("run", 32, count_outcomes(str(root)), config, {}))
    return root


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return mixed_run(tmp_path)


def test_counts_and_figure_inputs_are_those_of_all_rows_at_once(run: Path):
    tally = tally_run(str(run))
    assert tally.rows == 29
    assert tally.outcome_counts() == {
        "both rewrites taken": 5,
        "rewritten instruction only": 6,
        "rewritten response only": 8,
        "neither (original kept)": 10,
    }
    assert tally.rewrite_counts() == [
        ["instruction (step 2)", 29, 16, 13, 11],
        ["response (step 4)", 29, 13, 16, 13],
    ]
    # IFD: the original pairs (one NaN) against the kept rows' final IFD, 29 bins over both
    before, after = tally.histograms["ifd"]
    assert before.edges[[0, -1]].tolist() == [0.6, 1.58] and len(before.edges) == 30
    assert before.counts.tolist() == [2, 1, 1, 1, 0, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1,
                                      1, 1, 1, 1, 2, 1, 0, 0, 0, 0]  # fmt: skip
    assert (before.n, before.mean) == (28, pytest.approx(1.029642857142857))
    assert after.counts.tolist() == [1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0,
                                     0, 0, 0, 0, 1, 0, 1, 0, 1]  # fmt: skip
    assert (after.n, after.mean) == (11, pytest.approx(1.0418181818181818))
    # r-IFD: the original pairs' where a file has it (batch b's files do not: NaN there)
    before, after = tally.histograms["rifd"]
    assert before.edges[[0, -1]].tolist() == [0.4900000000000001, 1.2]
    assert before.counts.tolist() == [0, 0, 0, 0, 0, 0, 2, 1, 1, 1, 1, 2, 1, 0, 0, 0, 0, 0, 0,
                                      0, 0, 1, 1, 1, 2, 1, 1, 1, 2]  # fmt: skip
    assert (before.n, before.mean) == (19, pytest.approx(0.9252631578947368))
    assert after.counts.tolist() == [1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1,
                                     0, 0, 0, 0, 0, 1, 1, 0, 1]  # fmt: skip
    assert (after.n, after.mean) == (9, pytest.approx(0.87))
    # the scatter: every finite pair (25 of 29) drawn, counted per colour; others are grey (None)
    scatter = tally.scatter
    assert scatter.total == 25 and len(scatter.ifd) == 25
    assert scatter.group_counts == {"": 9, "ifd_not_below_one": 6, "response_not_reflected": 4,
                                    "rifd_not_below_one": 3, None: 3}  # fmt: skip
    assert tally.ifd_above_one() == (15, 28)
    assert "54% of 28 IFD values are above 1" in template_drift({}, tally)


def test_examples_are_the_first_of_each_outcome_and_reason_changed_first(run: Path):
    chosen = tally_run(str(run)).examples
    # the whole rows are read from the six part files holding an example only
    assert [Path(p).parent.name for p in chosen] == ["kept", "dropped", "dropped", "dropped",
                                                     "rejects", "retry"]  # fmt: skip
    shown = [(e["outcome"], e["reason"], e["sample_id"]) for e in load_examples(str(run), chosen)]
    assert shown == [
        ("kept", "", "a003"),  # a004 before a005: its texts did not change
        ("kept", "", "a005"),
        ("dropped", "ifd_not_below_one", "c020"),  # a000-a002 came first, unchanged
        ("dropped", "ifd_not_below_one", "c021"),
        ("dropped", "ifd_topk", "b010"),
        ("dropped", "ifd_topk", "b012"),
        ("dropped", "response_not_reflected", "c024"),
        ("dropped", "response_not_reflected", "c026"),
        ("dropped", "rifd_not_below_one", "a007"),
        ("dropped", "rifd_not_below_one", "a008"),
        ("rejected", "duplicate", "a000"),  # the id of a dropped row too: one example each
        ("rejected", "teacher_unavailable", "r1"),
    ]
    assert load_examples(str(run), tally_run(str(run)).examples) == load_examples(str(run), chosen)
    first = Path(write_report(str(run))).read_text()
    assert Path(write_report(str(run))).read_text() == first  # the same page on a rebuild


def test_a_scatter_of_many_points_draws_the_seeded_subset_of_all_rows(tmp_path: Path):
    """Over MAX_POINTS finite points in 9 part files: the points drawn are those the seeded draw
    over all rows at once picks (its positions among the finite points, in row order)."""
    rng = np.random.default_rng(3)
    n = MAX_POINTS + 1500
    ifd, rifd = rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, n)
    rifd[::11] = np.nan
    rows = pa.table(
        {
            C.SAMPLE_ID: [f"{i:06d}" for i in range(n)],
            C.OUTCOME: np.where(ifd < 1, "kept", "dropped").tolist(),
            C.REASON: np.where(ifd < 1, "", "ifd_not_below_one").tolist(),
            C.FINAL_IFD: ifd,
            C.FINAL_RIFD: rifd,
        }
    )
    for k in range(9):
        write_outcome_batch(
            rows.slice(k * n // 9, (k + 1) * n // 9 - k * n // 9), str(tmp_path), f"p{k}"
        )
    scatter = tally_run(str(tmp_path)).scatter
    whole = load_rows(str(tmp_path))  # kept files, then dropped ones: the report's row order
    a, b = whole[C.FINAL_IFD].to_numpy(), whole[C.FINAL_RIFD].to_numpy()
    ok = np.flatnonzero(np.isfinite(a) & np.isfinite(b))
    drawn = np.sort(np.random.default_rng(0).choice(ok, size=MAX_POINTS, replace=False))
    assert scatter.total == ok.size and len(scatter.ifd) == MAX_POINTS
    assert (scatter.ifd == a[drawn]).all() and (scatter.rifd == b[drawn]).all()
