"""The length-controlled win rate: equal to the raw one when length carries no information, at
parity when the judge only rewards length, and with a percentile bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from recycle.eval.length_control import fit_logistic, length_controlled, length_feature
from recycle.eval.pairwise_rule import outcome
from recycle.testing.scripted_judges import length_loving_score


def test_equal_lengths_give_the_raw_win_rate():
    outcomes = ["win"] * 6 + ["tie"] * 2 + ["lose"] * 2
    got = length_controlled(outcomes, [10] * 10, [10] * 10, samples=200)
    assert got["win_rate_lc"] == pytest.approx(1.4, abs=1e-4)  # 2 x (6 + 1) / 10
    assert got["length_slope"] == 0.0
    lo, hi = got["win_rate_lc_ci95"]
    assert lo < 1.4 < hi


def test_the_logistic_fit_recovers_its_coefficients():
    rng = np.random.default_rng(0)
    x = np.tanh(rng.normal(size=4000))
    p = 1 / (1 + np.exp(-(0.4 + 2.0 * x)))
    y = (rng.random(4000) < p).astype(float)
    b0, b1 = fit_logistic(x, y)
    assert b0 == pytest.approx(0.4, abs=0.1) and b1 == pytest.approx(2.0, abs=0.2)


def test_length_feature_is_tanh_of_the_standardized_difference():
    x = length_feature([3, 1, 2], [1, 1, 1])  # differences 2, 0, 1: sd = sqrt(2/3)
    assert x == pytest.approx(np.tanh(np.array([2, 0, 1]) / np.sqrt(2 / 3)))
    assert length_feature([5, 5], [1, 1]).tolist() == [0.0, 0.0]


def _padding_items(n: int) -> tuple[list[str], list[int], list[int]]:
    """A judge that loves length, on answers that differ only by 0 to 60 words of padding."""
    outcomes, len_a, len_b = [], [], []
    for i in range(n):
        b = f"Answer number {i}."
        pad = (i * 7919) % 61
        a = b + " indeed" * pad
        sa, sb = length_loving_score(a), length_loving_score(b)
        outcomes.append(outcome([sa, sb], [sb, sa]))
        len_a.append(len(a))
        len_b.append(len(b))
    return outcomes, len_a, len_b


def test_padding_moves_the_raw_win_rate_but_not_the_length_controlled_one():
    outcomes, len_a, len_b = _padding_items(200)
    raw = (outcomes.count("win") - outcomes.count("lose")) / len(outcomes) + 1
    got = length_controlled(outcomes, len_a, len_b, samples=300)
    lo, hi = got["win_rate_lc_ci95"]
    assert raw > 1.6
    assert lo < 1.0 < hi and abs(got["win_rate_lc"] - 1.0) < 0.3
    assert got["length_slope"] > 1.0


def test_no_items_no_figures():
    assert length_controlled([], [], [], samples=10) == {
        "win_rate_lc": None, "win_rate_lc_ci95": None, "length_slope": None,
    }  # fmt: skip
