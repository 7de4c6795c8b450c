"""The length-controlled win rate: equal to the raw one when length carries no information, at
parity when the judge only rewards length, with a percentile bootstrap interval; the share of items
where A is not longer, and the extrapolation and extreme-change warnings at their thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from recycle.eval.length_control import (
    EXTRAPOLATION,
    EXTREME_CHANGE,
    extreme_change_band,
    fit_logistic,
    is_extrapolation,
    is_extreme_change,
    length_controlled,
    length_feature,
    length_warnings,
    share_not_longer,
)
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
    # differences 2, 0, 1, 4: mean 1.75, sd (ddof 1, as pandas) = sqrt(8.75 / 3)
    x = length_feature([3, 1, 2, 5], [1, 1, 1, 1])
    assert x == pytest.approx(np.tanh(np.array([2, 0, 1, 4]) / np.sqrt(8.75 / 3)))
    assert length_feature([5, 5], [1, 1]).tolist() == [0.0, 0.0]
    assert length_feature([5], [1]).tolist() == [0.0]  # one item: no spread


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
        "share_a_not_longer": None, "length_warnings": [],
    }  # fmt: skip


def test_share_not_longer_counts_equal_lengths_as_not_longer():
    assert share_not_longer([1, 2, 3, 4], [2, 2, 2, 2]) == 0.5  # 1 shorter, 2 equal, 3 and 4 longer
    assert share_not_longer([], []) is None


def _with_not_longer(k: int, n: int = 100) -> tuple[list[int], list[int]]:
    """n items of which exactly k have A not longer than B (k equal, the rest A longer)."""
    return [10] * k + [20 + i for i in range(n - k)], [10] * n


def test_extrapolation_when_fewer_than_5_percent_reach_zero_difference():
    assert not is_extrapolation(*_with_not_longer(5))  # 5 of 100: zero at the 5% quantile
    assert is_extrapolation(*_with_not_longer(4))
    a, b = _with_not_longer(4)
    assert is_extrapolation(b, a)  # A almost always shorter: the same rule on the other side
    assert not is_extrapolation([10] * 50, [10] * 50)  # all equal: the fit is read at the data
    assert not is_extrapolation([], [])


def test_extreme_change_band_at_alpaca_eval_thresholds():
    # raw 20%: below min(20 - 20/4, 20 - 10) = 10% or above max(20 + 80/4, 20 + 10) = 40%
    assert extreme_change_band(0.4) == pytest.approx((0.2, 0.8))
    assert not is_extreme_change(0.4, 0.2) and not is_extreme_change(0.4, 0.8)
    assert is_extreme_change(0.4, 0.19) and is_extreme_change(0.4, 0.81)
    # raw 50%: a quarter of the way to 0 or 100 (37.5%, 62.5%) is wider than 10 points
    assert extreme_change_band(1.0) == pytest.approx((0.75, 1.25))
    assert is_extreme_change(1.0, 0.74) and not is_extreme_change(1.0, 1.24)
    # raw 90%: 10 points above is 100%, beyond the scale: the band stops at 2
    assert extreme_change_band(1.8) == pytest.approx((1.35, 2.0))


def test_warnings_name_the_rule_and_the_numbers():
    a, b = _with_not_longer(2)
    got = length_warnings(1.7, 1.0, a, b)
    assert [w.split(":")[0] for w in got] == [EXTRAPOLATION, EXTREME_CHANGE]
    assert "not longer than B in 2.0%" in got[0] and "[1.275, 1.900]" in got[1]
    assert length_warnings(1.2, 1.1, *_with_not_longer(50)) == []


def test_padding_warns_of_extrapolation_and_extreme_change():
    outcomes, len_a, len_b = _padding_items(200)  # 4 of 200 items unpadded: A not longer in 2%
    got = length_controlled(outcomes, len_a, len_b, samples=0)
    assert got["share_a_not_longer"] == 0.02
    assert [w.split(":")[0] for w in got["length_warnings"]] == [EXTRAPOLATION, EXTREME_CHANGE]
