"""Two scorers over the same rows, end to end: `recycle score` twice on local Ray, then
`recycle agree` on the two run directories, its printed numbers checked against scipy.

Scorer A is the tiny Llama student with the vicuna template; scorer B is a tiny GPT-2 (another
architecture, a tokenizer without bos or pad) with `student.template=none`, Superfiltering's
setting (arXiv 2402.00530).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from recycle import columns as C
from recycle.cli.main import main
from recycle.rundir import read_manifest, read_outcome
from tests.support.agreement import expected_top, printed_rows, scipy_rho
from tests.support.fixtures import *  # noqa: F403  (tiny student fixtures)
from tests.support.tiny_gpt2 import build_tiny_gpt2
from tests.support.tiny_model import alpaca_rows

pytestmark = pytest.mark.integration
SETTINGS = ["student.max_length=512", "student.batch_tokens=4096", "student.batch_size=20"]
ROWS = 60


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """60 real Alpaca rows (with and without an input)."""
    path = tmp_path_factory.mktemp("agree_data") / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in alpaca_rows(ROWS)) + "\n")
    return path


def score(dataset, out, model, *extra: str) -> str:
    argv = ["score", "--input", str(dataset), "--output", str(out), f"student.model={model}"]
    assert main([*argv, *SETTINGS, *extra]) == 0
    return str(out)


def kept_scores(run_dir: str):
    df = read_outcome(run_dir, C.OUTCOME_KEPT).to_pandas()
    return df.set_index(C.SAMPLE_ID)[[C.IFD, C.RIFD]]


@pytest.fixture(scope="module")
def runs(
    ray_local, dataset, tiny_model_dir, tiny_artifacts, tiny_model_no_bos_dir, tmp_path_factory
):
    """Scored runs: "a" the student (vicuna), "b" the small GPT-2 (none), "joined" the student
    again with vicuna_joined (the same prompt for rows without an input); "gpt2" its folder."""
    root = tmp_path_factory.mktemp("agree_runs")
    gpt2 = build_tiny_gpt2(tiny_artifacts, tiny_model_no_bos_dir)
    return {
        "a": score(dataset, root / "student", tiny_model_dir),
        "b": score(dataset, root / "gpt2", gpt2, "student.template=none"),
        "joined": score(dataset, root / "joined", tiny_model_dir, "student.template=vicuna_joined"),
        "gpt2": str(gpt2),
    }


def check_printed(out: str, run_a: str, run_b: str) -> dict[str, list[str]]:
    """The printed rho and top-k rows equal scipy's and the written-out rule's on the runs' columns."""
    rows = printed_rows(out)
    a, b = kept_scores(run_a), kept_scores(run_b)
    ids = sorted(a.index)
    assert sorted(b.index) == ids and len(ids) == ROWS  # the same rows, joined by sample_id
    a, b = a.loc[ids], b.loc[ids]
    assert f"{ROWS} shared rows (only in A: 0, only in B: 0)" in out
    for col, label in ((C.IFD, "IFD"), (C.RIFD, "r-IFD")):
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        rho, n = scipy_rho(x, y)
        finite = np.isfinite(x) & np.isfinite(y)
        # a few long responses leave r-IFD's reverse query no room within max_length: NaN, left out
        assert n >= 50 and not np.allclose(x[finite], y[finite])  # two different scorers
        assert int(rows[label][0]) == n
        assert float(rows[label][1]) == pytest.approx(rho, abs=5e-5)
    for k in (5, 10, 15):
        top_a = expected_top(ids, a[C.IFD].to_numpy(float), k)
        top_b = expected_top(ids, b[C.IFD].to_numpy(float), k)
        size_a, size_b, shared, overlap = rows[f"top {k}% by IFD"]
        assert (int(size_a), int(size_b), int(shared)) == (
            len(top_a),
            len(top_b),
            len(top_a & top_b),
        )
        larger = max(len(top_a), len(top_b))
        assert overlap == (f"{len(top_a & top_b) / larger:.4f}" if larger else "n/a")
    assert "kept" not in rows  # `recycle score` runs select nothing
    return rows


def test_agree_of_the_student_and_a_small_gpt2_without_template(runs, tiny_model_dir, capsys):
    run_a, run_b, gpt2 = runs["a"], runs["b"], runs["gpt2"]
    assert read_manifest(run_b)["config"]["student"]["template"] == "none"
    capsys.readouterr()
    assert main(["agree", run_a, run_b]) == 0
    out = capsys.readouterr().out
    print(out)  # shown with -rP: the numbers the notes quote
    assert f"A: {run_a} (recycle score: student {tiny_model_dir}, template vicuna)" in out
    assert f"B: {run_b} (recycle score: student {gpt2}, template none)" in out
    check_printed(out, run_a, run_b)


def test_agree_of_two_templates_that_differ_only_on_rows_with_an_input(runs, capsys):
    """vicuna and vicuna_joined build the same tokens for a row without an input: high agreement,
    top sets that share rows (the intersection counted end to end, not only zeros)."""
    capsys.readouterr()
    assert main(["agree", runs["a"], runs["joined"]]) == 0
    out = capsys.readouterr().out
    print(out)
    rows = check_printed(out, runs["a"], runs["joined"])
    assert float(rows["IFD"][1]) > 0.5
    assert sum(int(rows[f"top {k}% by IFD"][2]) for k in (5, 10, 15)) > 0


def test_kept_sets_of_ifd_topk_selections_are_the_top_sets(runs, tmp_path, capsys):
    """`recycle select` (ifd_topk, 10%) on each scored run keeps exactly agree's top 10% set."""
    scored = {"a": runs["a"], "b": runs["b"]}
    selected = {}
    for side, run in scored.items():
        selected[side] = str(tmp_path / f"topk_{side}")
        argv = ["select", "--input", run, "--output", selected[side], "selection.mode=ifd_topk"]
        assert main([*argv, "selection.topk_percent=10"]) == 0
    capsys.readouterr()
    assert main(["agree", selected["a"], selected["b"], "--top", "10"]) == 0
    out = capsys.readouterr().out
    print(out)
    rows = printed_rows(out)
    assert f"B: {selected['b']} (recycle select: student {runs['gpt2']}, template none)" in out
    assert rows["kept"] == rows["top 10% by IFD"]  # the same rule, the same sets
    kept = {
        side: set(read_outcome(run, C.OUTCOME_KEPT).to_pandas()[C.SAMPLE_ID])
        for side, run in selected.items()
    }
    assert rows["kept"][:3] == [
        str(len(kept["a"])),
        str(len(kept["b"])),
        str(len(kept["a"] & kept["b"])),
    ]
