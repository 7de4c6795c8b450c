"""`recycle judge` with a judge that loves length, on two models that differ only in padding:
the raw win rate moves far from parity, the length-controlled one stays at parity; A is longer in
all but 4 of the 240 items, so the rate is an extrapolation and moves by more than AlpacaEval's
extreme-change rule, and both warnings reach the console, the manifest and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recycle.cli.main import main
from recycle.rundir import read_manifest
from recycle.testing.local_server import LocalTeacherServer
from recycle.testing.scripted_judges import length_loving_review

pytestmark = pytest.mark.integration

N = 120  # questions per set, in two sets


def _answer_files(folder: Path) -> tuple[Path, Path]:
    """B answers plainly; A answers the same and pads 0 to 60 words (a number spread over items)."""
    rows_a, rows_b = [], []
    for i in range(2 * N):
        row = {"instruction": f"Question {i}?", "input": "", "dataset": f"set{i // N}"}
        plain = f"Answer number {i}."
        rows_b.append({**row, "output": plain, "generator": "plain"})
        rows_a.append(
            {**row, "output": plain + " indeed" * ((i * 7919) % 61), "generator": "padded"}
        )
    paths = (folder / "a.json", folder / "b.json")
    for path, rows in zip(paths, (rows_a, rows_b), strict=True):
        path.write_text(json.dumps(rows))
    return paths


def test_length_controlled_win_rate_stays_at_parity(ray_local, tmp_path, capsys):
    a, b = _answer_files(tmp_path)
    out = tmp_path / "judge"
    with LocalTeacherServer(answer=length_loving_review, model="local-judge") as srv:
        argv = ["judge", "--answers-a", str(a), "--answers-b", str(b), "--output", str(out)]
        cfg = [f"judge.base_url={srv.base_url}", "judge.model=local-judge",
               "judge.api_key_env=RECYCLE_TEST_JUDGE_KEY", "eval.bootstrap_samples=300"]  # fmt: skip
        assert main([*argv, *cfg]) == 0
    summary = json.loads((out / "summary.json").read_text())
    total = summary["total"]
    assert total["n"] == 2 * N and total["win_rate"] > 1.6 and total["win_rate_ci95"][0] > 1.4
    lo, hi = total["win_rate_lc_ci95"]
    assert lo < 1.0 < hi and abs(total["win_rate_lc"] - 1.0) < 0.3
    for name in ("set0", "set1"):
        assert summary["sets"][name]["win_rate_lc"] is not None
    verdict = read_manifest(str(out))["verdict"]
    assert verdict["win_rate_lc"] == total["win_rate_lc"]
    assert verdict["share_a_not_longer"] == round(4 / 240, 4)  # the unpadded items 0, 61, 122, 183
    warnings = verdict["length_warnings"]
    assert [w.split(":")[0] for w in warnings] == ["extrapolation", "extreme change"]
    assert warnings == total["length_warnings"]
    console = capsys.readouterr()
    assert "length-controlled" in console.out
    for warning in warnings:
        assert f"warning: length-controlled win rate (total): {warning}" in console.err
    print(f"raw {total['win_rate']} {total['win_rate_ci95']}, "
          f"LC {total['win_rate_lc']} {total['win_rate_lc_ci95']}")  # fmt: skip
    report = (out / "report" / "summary.md").read_text()
    assert f"**{total['win_rate_lc']:.3f}**" in report
    assert "not longer than plain in 1.7% of the items" in report
    for warning in warnings:
        assert f"> **Warning (total)**: {warning}" in report
    assert (out / "report" / "outcome_vs_length.png").stat().st_size > 10_000
