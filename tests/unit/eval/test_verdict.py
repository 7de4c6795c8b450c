"""The verdict table: counts, win rate, bootstrap interval, order agreement."""

from __future__ import annotations

from recycle.eval.verdict import bootstrap_interval, summarize, tally


def _pair(dataset, fwd, rev, outcome, a="x y", b="x"):
    return {
        "dataset": dataset, "answer_a": a, "answer_b": b, "scores_forward": fwd,
        "scores_reverse": rev, "outcome": outcome, "judge_error": "" if outcome else "teacher_unavailable: x",
    }  # fmt: skip


def test_tally_and_bootstrap():
    t = tally(["win"] * 6 + ["tie"] * 2 + ["lose"] * 2)
    assert t == {"win": 6, "tie": 2, "lose": 2, "n": 10, "win_rate": 1.4}
    lo, hi = bootstrap_interval(["win"] * 6 + ["tie"] * 2 + ["lose"] * 2, 2000, seed=1)
    assert 0.8 < lo < 1.0 and 1.7 < hi <= 1.9  # about 1.4 -+ 1.96 x 0.8 / sqrt(10)
    assert bootstrap_interval(["win"] * 5, 100) == [2.0, 2.0]
    assert tally([])["win_rate"] is None


def test_summary_per_set_with_disagreement_and_unjudged():
    pairs = [
        _pair("s1", [8, 6], [6, 8], "win"),  # orders agree
        _pair("s1", [8, 6], [8, 6], "tie"),  # orders disagree: Assistant 1 favoured twice
        _pair("s2", [-1, -1], [6, 8], "win"),  # one unparseable order
        _pair("s2", None, None, None),  # not judged
    ]
    s = summarize(pairs, bootstrap_samples=50)
    assert s["sets"]["s1"]["win"] == 1 and s["sets"]["s1"]["tie"] == 1 and s["sets"]["s1"]["n"] == 2
    assert s["sets"]["s1"]["order_agreement"]["flip_rate"] == 0.5
    assert s["sets"]["s1"]["order_agreement"]["first_favoured_rate"] == 0.75
    assert s["sets"]["s2"]["not_judged"] == 1 and s["sets"]["s2"]["unparseable_reviews"] == 1
    assert s["total"]["n"] == 3 and s["total"]["win_rate"] == (2 - 0) / 3 + 1
    assert s["total"]["mean_length"]["a_words"] == 2.0
