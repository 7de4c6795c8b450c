"""The controls' rules (recycle.eval.controls): which rows each control takes, and how the verdict
reads beside them."""

from __future__ import annotations

import json

import pytest

from recycle.config import load_config
from recycle.errors import ConfigError
from recycle.eval import controls as K


def test_random_subset_is_seeded_distinct_and_of_the_size():
    a = K.random_subset(100, 10, seed=3)
    assert a == K.random_subset(100, 10, seed=3) and a == sorted(a)
    assert len(set(a)) == 10 and all(0 <= i < 100 for i in a)
    assert a != K.random_subset(100, 10, seed=4)
    assert K.random_subset(5, 5, seed=0) == [0, 1, 2, 3, 4] and K.random_subset(5, 0, seed=0) == []
    with pytest.raises(ValueError):
        K.random_subset(5, 6, seed=0)


def test_random_subset_draws_every_row_alike():
    hits = [0] * 20
    for seed in range(2000):
        for i in K.random_subset(20, 5, seed):
            hits[i] += 1
    assert min(hits) > 400 and max(hits) < 600  # expected 500 each (2000 x 5 / 20)


def test_longest_subset_takes_the_longest_responses_ties_to_the_earlier_row():
    lengths = [5, 40, 12, 40, 3, 12, 7]
    assert K.longest_subset(lengths, 3) == [1, 2, 3]  # 40, 40, then the first 12
    assert K.longest_subset(lengths, 4) == [1, 2, 3, 5]
    assert K.control_positions("length", lengths, 2, seed=0) == [1, 3]
    assert K.control_positions("random", lengths, 2, seed=1) == K.random_subset(7, 2, 1)
    with pytest.raises(ValueError, match="unknown control"):
        K.control_positions("short", lengths, 2, seed=0)


def test_response_length_of_a_sample_and_of_a_conversation():
    assert K.response_length("abcd", None) == 4
    turns = [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "abc"},
             {"role": "user", "content": "more"}, {"role": "assistant", "content": "de"}]  # fmt: skip
    assert K.response_length("", json.dumps(turns)) == 5


def test_controls_apply_only_to_a_proper_subset():
    assert K.controls_apply(4, 8) and not K.controls_apply(8, 8) and not K.controls_apply(0, 8)


def _verdict(rate: float, ci: list[float], alpaca: float | None = None) -> dict:
    v = {"pairwise": {"win_rate": rate, "win_rate_ci95": ci, "win_rate_lc": rate - 0.1,
                      "win_rate_lc_ci95": [ci[0] - 0.1, ci[1] - 0.1]}}  # fmt: skip
    if alpaca is not None:
        v["alpaca_eval"] = {"a": {"win_rate": alpaca, "standard_error": 2.0}}
    return v


def test_the_conclusion_reads_the_win_rate_intervals():
    rows = {"recycled": K.figures(_verdict(1.4, [1.3, 1.5])),
            "random": K.figures(_verdict(1.0, [0.9, 1.1])),
            "length": K.figures(_verdict(1.2, [1.1, 1.35]))}  # fmt: skip
    out = K.conclusion(rows)
    assert out["figure"] == "win_rate" and out["outcomes"] == {
        "random": "above",
        "length": "overlap",
    }
    assert out["beat_all"] is False
    assert out["line"].startswith("Recycling beat the random control but not the length control")
    rows["length"] = K.figures(_verdict(1.1, [1.0, 1.2]))
    assert K.conclusion(rows)["line"].startswith(
        "Recycling beat the controls: its pairwise win rate"
    )
    rows["recycled"] = K.figures(_verdict(0.8, [0.7, 0.85]))
    out = K.conclusion(rows)
    assert out["outcomes"] == {"random": "below", "length": "below"}
    assert out["line"].startswith("Recycling did not beat the controls")


def test_alpaca_eval_decides_without_the_pairwise_judge_and_lm_eval_has_no_interval():
    only_alpaca = {"alpaca_eval": {"a": {"win_rate": 60.0, "standard_error": 2.0}},
                   "lm_eval": {"difference": {"average": 0.012}}}  # fmt: skip
    f = K.figures(only_alpaca)
    assert f["alpaca_eval"] == {"value": 60.0, "ci": [56.08, 63.92]}
    assert f["lm_eval"]["value"] == pytest.approx(1.2) and f["lm_eval"]["ci"] is None
    rows = {
        "recycled": f,
        "random": K.figures({"alpaca_eval": {"a": {"win_rate": 50.0, "standard_error": 2.0}}}),
    }
    assert K.conclusion(rows)["outcomes"] == {"random": "above"}
    no_ci = {"recycled": {"lm_eval": f["lm_eval"]}, "random": {"lm_eval": f["lm_eval"]}}
    assert K.conclusion(no_ci)["figure"] is None and "not decided" in K.conclusion(no_ci)["line"]


def test_the_table_has_a_row_per_model_with_intervals():
    rows = {"recycled": K.figures(_verdict(1.4, [1.3, 1.5])),
            "random": K.figures(_verdict(1.0, [0.9, 1.1]))}  # fmt: skip
    lines = K.table_lines(rows, "base")
    assert lines[0].startswith("| fine-tuned on, vs base | pairwise win rate (95% bootstrap) |")
    assert lines[2] == "| recycled (kept rows) | 1.400 [1.300, 1.500] | 1.300 [1.200, 1.400] |"
    assert lines[3] == "| control: random subset | 1.000 [0.900, 1.100] | 0.900 [0.800, 1.000] |"


def test_controls_need_a_baseline():
    with pytest.raises(ConfigError, match="eval.controls needs eval.baseline"):
        load_config(None, ["eval.controls=[random]"])
    with pytest.raises(ConfigError, match="twice"):
        load_config(None, ["eval.baseline=base", "eval.controls=[random,random]"])
    assert load_config(None, ["eval.baseline=base", "eval.controls=[length]"]).eval.controls == [
        "length"
    ]
