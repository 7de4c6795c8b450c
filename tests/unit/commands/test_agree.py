"""`recycle agree`: which rows and columns of a run directory it reads, what it prints, exit codes.

The run directories are written with the run directory's own writer (recycle.rundir), as a
`recycle score` run (ifd, rifd; rejects unscored) and a `recycle run` run (orig_ifd; kept and
select-dropped rows; its manifest names the mode). tests/integration/test_agree.py scores real
runs with two tiny models.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from recycle import api
from recycle import columns as C
from recycle.cli.main import main
from recycle.commands.agree import scored_rows
from recycle.errors import InputError
from recycle.rundir import write_manifest, write_outcome_batch
from tests.support.agreement import expected_top, printed_rows, scipy_rho

N = 40
IDS = [f"id{i:03d}" for i in range(N)]
RNG = np.random.default_rng(7)
IFD_A = RNG.uniform(0.6, 1.2, N)
IFD_B = IFD_A + RNG.normal(0.0, 0.15, N)  # a noisy second scorer
IFD_B[3] = math.nan  # B could not score one row
RIFD_A = RNG.uniform(0.5, 1.1, N)


def write_run(path, columns: dict, manifest: dict) -> str:
    n = len(columns[C.SAMPLE_ID])
    table = {C.REASON: [""] * n, C.STAGE: [""] * n, C.INSTRUCTION: ["q"] * n, **columns}
    write_outcome_batch(pa.table(table), str(path))
    write_manifest(str(path), manifest)
    return str(path)


@pytest.fixture
def score_run(tmp_path):
    """A `recycle score` run: every valid row kept with ifd and rifd, one reject without scores."""
    cols = {
        C.SAMPLE_ID: [*IDS, "rejected"],
        C.OUTCOME: [C.OUTCOME_KEPT] * N + [C.OUTCOME_REJECTED],
        C.IFD: [*IFD_A, math.nan],
        C.RIFD: [*RIFD_A, math.nan],
    }
    return write_run(tmp_path / "score", cols, {"command": "score"})


@pytest.fixture
def pipeline_run(tmp_path):
    """A `recycle run` (ifd_topk): orig_ifd; 10 kept, the rest dropped by the selection, two rows
    dropped earlier (not candidates) and one only this run has."""
    ids = [*IDS, "only_b"]
    earlier = {5, 6}  # dropped before the selection
    order = np.argsort(-np.nan_to_num(IFD_B, nan=-1.0))
    kept = set([i for i in order if i not in earlier][:10])
    stage = ["validate" if i in earlier else "" if i in kept else "select" for i in range(N + 1)]
    cols = {
        C.SAMPLE_ID: ids,
        C.OUTCOME: [C.OUTCOME_KEPT if i in kept else C.OUTCOME_DROPPED for i in range(N + 1)],
        C.STAGE: stage,
        C.scored(C.ORIG, C.IFD): [*IFD_B, 0.5],
    }
    return write_run(tmp_path / "run", cols, {"command": "run", "mode": "ifd_topk"})


def test_scored_rows_reads_the_candidates_and_the_original_pairs_scores(score_run, pipeline_run):
    a = scored_rows(score_run)
    assert list(a.columns) == [C.SAMPLE_ID, C.IFD, C.RIFD]  # no selection: no outcome column
    assert sorted(a[C.SAMPLE_ID]) == IDS  # the reject is not a candidate
    b = scored_rows(pipeline_run)
    assert list(b.columns) == [C.SAMPLE_ID, C.IFD, C.OUTCOME]  # orig_ifd read as IFD; no r-IFD
    assert set(b[C.SAMPLE_ID]) == (set(IDS) - {"id005", "id006"}) | {"only_b"}


def test_agree_prints_rho_and_overlaps_that_scipy_and_the_rule_confirm(
    score_run, pipeline_run, capsys
):
    assert main(["agree", score_run, pipeline_run]) == 0
    out = capsys.readouterr().out
    rows = printed_rows(out)
    shared = [i for i in IDS if i not in ("id005", "id006")]
    idx = [IDS.index(i) for i in shared]
    assert f"{len(shared)} shared rows (only in A: 2, only in B: 1)" in out
    rho, n = scipy_rho(IFD_A[idx], IFD_B[idx])
    assert rows["IFD"][0] == str(n) == str(len(shared) - 1)  # B's NaN row left out
    assert float(rows["IFD"][1]) == pytest.approx(rho, abs=5e-5)
    assert rows["r-IFD"] == ["0", "n/a"]  # run B computed no r-IFD of the original pairs
    for k in (5, 10, 15):
        a, b = expected_top(shared, IFD_A[idx], k), expected_top(shared, IFD_B[idx], k)
        size_a, size_b, both, overlap = rows[f"top {k}% by IFD"]
        assert (int(size_a), int(size_b), int(both)) == (len(a), len(b), len(a & b))
        assert overlap == f"{len(a & b) / max(len(a), len(b)):.4f}"
    assert "kept" not in rows  # run A did not select


def test_kept_sets_are_compared_when_both_runs_selected(pipeline_run):
    result = api.agree(pipeline_run, pipeline_run, top=[20])
    assert [o["name"] for o in result["overlaps"]] == ["top 20% by IFD", "kept"]
    kept = result["overlaps"][1]
    assert kept["size_a"] == kept["shared"] == 10 and kept["overlap"] == 1.0
    assert result["correlations"][0]["rho"] == pytest.approx(1.0)


def test_runs_that_share_no_rows_or_lack_scores_exit_2(tmp_path, score_run, capsys):
    other = write_run(
        tmp_path / "other",
        {C.SAMPLE_ID: ["x", "y"], C.OUTCOME: [C.OUTCOME_KEPT] * 2, C.IFD: [0.5, 0.7]},
        {"command": "score"},
    )
    assert main(["agree", score_run, other]) == 2
    assert "share no rows" in capsys.readouterr().err
    unscored = write_run(
        tmp_path / "recycle_mode",
        {C.SAMPLE_ID: IDS, C.OUTCOME: [C.OUTCOME_KEPT] * N},
        {"command": "run", "mode": "recycle"},
    )
    assert main(["agree", score_run, unscored]) == 2
    assert "has no IFD scores" in capsys.readouterr().err
    assert main(["agree", score_run, str(tmp_path / "nothing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    with pytest.raises(InputError, match="has no IFD scores"):
        api.agree(unscored, score_run)


def test_a_top_k_outside_0_100_is_refused(score_run, capsys):
    with pytest.raises(SystemExit) as done:
        main(["agree", score_run, score_run, "--top", "0"])
    assert done.value.code == 2 and "0 < k <= 100" in capsys.readouterr().err
