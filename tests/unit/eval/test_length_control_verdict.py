"""The length-control share and warnings reach summary.json, the manifest's verdict, the report
and the console (recycle.eval.judge_outputs), per set and in total; none where A and B are as
often longer as shorter."""

from __future__ import annotations

import json
import logging

from recycle.eval import columns as E
from recycle.eval import judge_outputs
from recycle.eval.report import summary_markdown
from recycle.eval.verdict import summarize

JUDGE = {"model": "j", "base_url": "http://x"}


def _pair(i: int, a_longer_from: int, win: bool) -> dict:
    """Item i: B answers in 40 characters; A in at most 40 before item `a_longer_from`, padded to
    100 + i from it on."""
    pad = i >= a_longer_from
    fwd, rev = ([8.0, 6.0], [6.0, 8.0]) if win else ([6.0, 8.0], [8.0, 6.0])
    return {
        E.DATASET: f"set{i % 2}", E.INSTRUCTION: f"q{i}", E.INPUT: "", E.OCCURRENCE: 0,
        E.ANSWER_A: "a" * (100 + i if pad else 40 - i % 30), E.ANSWER_B: "b" * 40,
        E.REVIEW_FORWARD: "", E.REVIEW_REVERSE: "", E.SCORES_FORWARD: fwd,
        E.SCORES_REVERSE: rev, E.OUTCOME: "win" if win else "lose", E.JUDGE_ERROR: "",
    }  # fmt: skip


def test_warnings_reach_summary_manifest_report_and_console(tmp_path, caplog):
    pairs = [_pair(i, 6, win=i >= 6) for i in range(200)]  # A not longer in 6 of 200 = 3%
    summary = summarize(pairs, bootstrap_samples=0)
    total = summary["total"]
    assert total["share_a_not_longer"] == 0.03 and total["win_rate"] == 1.94
    assert [w.split(":")[0] for w in total["length_warnings"]][0] == "extrapolation"
    verdict = judge_outputs.verdict_section(summary, ("A", "B"))
    assert verdict["share_a_not_longer"] == 0.03
    assert verdict["length_warnings"] == total["length_warnings"]
    md = summary_markdown(summary, JUDGE, "A", "B")
    assert "A not longer than B in 3.0% of the items" in md
    assert f"> **Warning (total)**: {total['length_warnings'][0]}" in md
    # each set warns on its own (3 of its 100 items), in one line
    assert (
        "> **Warning (sets)**: set0: extrapolation, extreme change; set1: extrapolation, extreme change"
        in md
    )
    with caplog.at_level(logging.WARNING, logger=judge_outputs.__name__):
        judge_outputs.write_outputs(str(tmp_path), pairs, summary, JUDGE, ("A", "B"))
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"length-controlled win rate (total): {total['length_warnings'][0]}" in logged
    written = json.loads((tmp_path / judge_outputs.SUMMARY).read_text())
    assert written["total"]["length_warnings"] == total["length_warnings"]


def test_no_warning_when_zero_difference_is_inside_the_data(tmp_path, caplog):
    pairs = [_pair(i, 100, win=i % 4 < 2) for i in range(200)]  # length tells nothing
    summary = summarize(pairs, bootstrap_samples=0)
    assert summary["total"]["share_a_not_longer"] == 0.5
    assert summary["total"]["length_warnings"] == []
    assert judge_outputs.verdict_section(summary, ("A", "B"))["length_warnings"] == []
    assert "Warning" not in summary_markdown(summary, JUDGE, "A", "B")
    with caplog.at_level(logging.WARNING, logger=judge_outputs.__name__):
        judge_outputs.write_outputs(str(tmp_path), pairs, summary, JUDGE, ("A", "B"))
    assert not [r for r in caplog.records if "length-controlled" in r.getMessage()]
