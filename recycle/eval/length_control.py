"""A length-controlled pairwise verdict: the judge's preference with the answers' length taken out.

LLM judges favour longer answers, and recycled answers are longer. The model is AlpacaEval 2's
`length_controlled_minimal` GLM (alpaca_eval 0.6.6, `metrics/glm_winrate.py`: formula
`np.tanh(std_delta_len) + not_gamed_baseline.astype(float) - 1`, no instruction difficulty, no
regularisation towards gamed baselines), fitted on the papers' both-orders outcomes: the
preference of one item (win 1, tie ½, lose 0, A's view) is a logistic function of an intercept
plus tanh of the standardized length difference,

    P(A preferred) = sigmoid(b0 + b1 * tanh((len_a - len_b) / sd)),

with `sd` the standard deviation of A's characters minus B's (ddof 1, as pandas computes it there),
and the rate reported is the preference predicted at zero length difference, sigmoid(b0), on the
papers' scale: win rate = 2 × preference (1 = parity, 2 = A always better; AlpacaEval's percent
is 50 × this). A percentile bootstrap over items gives its interval.

The fits differ only in their penalty. alpaca_eval runs liblinear with an L1 penalty on both
coefficients, its strength picked by 5-fold cross-validation; here Newton's method minimises the
cross-entropy plus a ridge SLOPE_PENALTY * N * b1² / 2 on b1 alone, which keeps the fit finite when
the outcomes are perfectly separated by length and never pulls b0 (the verdict) towards parity.
`tests/unit/eval/test_length_control_alpaca_eval.py` fits alpaca_eval's own function on the
authors' GPT-4 reviews and checks that the two rates agree within that penalty's effect.

Two warnings go with the rate (`length_warnings`; the console, the report and the manifest show
them):

- **extrapolation**: the rate reads the fitted curve at zero length difference; it is an
  extrapolation when zero lies outside the central 90% of the observed differences, i.e. fewer than
  EXTRAPOLATION_TAIL (5%) of the items have A not longer than B, or fewer than 5% have A not
  shorter. The curve's value there is then set by the tanh shape the model assumes, not by items
  judged at about equal length. `share_a_not_longer` reports the first share.
- **extreme change**: the rate moved from the raw one by more than AlpacaEval's own rule allows
  (`alpaca_eval.metrics.glm_winrate.get_is_extreme_changes`, which AlpacaEval calls "a sign of
  failure of the GLM"): on its percent scale, below min(p - p/4, p - 10) or above
  max(p + (100 - p)/4, p + 10), p the raw rate.

Pure: numpy only, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recycle.eval.pairwise_rule import LOSE, TIE, WIN

PREFERENCE = {WIN: 1.0, TIE: 0.5, LOSE: 0.0}
SLOPE_PENALTY = 1e-3  # ridge weight on b1, per item
_NEWTON_STEPS = 50
EXTRAPOLATION_TAIL = 0.05  # zero difference must lie in the central 1 - 2 × this of the data
# alpaca_eval's get_is_extreme_changes defaults, in percentage points of its 0-100 scale
EXTREME_ABS_POINTS = 10.0
EXTREME_REL_DIVISOR = 4.0
PERCENT_PER_RATE = 50.0  # AlpacaEval's percent = 50 × the papers' win rate
EXTRAPOLATION = "extrapolation"
EXTREME_CHANGE = "extreme change"


def length_scale(len_a: Sequence[float], len_b: Sequence[float]) -> float:
    """Standard deviation (ddof 1) of A's length minus B's; 0 with fewer than two items."""
    diff = np.asarray(len_a, np.float64) - np.asarray(len_b, np.float64)  # (N,)
    return float(diff.std(ddof=1)) if len(diff) > 1 else 0.0


def length_feature(len_a: Sequence[float], len_b: Sequence[float]) -> np.ndarray:
    """tanh of the length difference divided by its standard deviation; (N,). All zeros when
    every difference is the same (nothing to separate length from quality)."""
    diff = np.asarray(len_a, np.float64) - np.asarray(len_b, np.float64)  # (N,)
    sd = length_scale(len_a, len_b)
    return np.tanh(diff / sd) if sd > 0 else np.zeros_like(diff)


def fit_logistic(x: np.ndarray, y: np.ndarray, penalty: float = SLOPE_PENALTY) -> np.ndarray:
    """(b0, b1) of a logistic model of soft labels `y` (N,) in [0, 1] on one feature `x` (N,),
    by Newton's method on the cross-entropy plus `penalty` * N * b1² / 2."""
    design = np.stack([np.ones_like(x), x], axis=1)  # (N, 2)
    ridge = np.diag([0.0, penalty * len(x)])  # (2, 2)
    beta = np.zeros(2)
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))  # (N,)
        grad = design.T @ (p - y) + ridge @ beta  # (2,)
        hess = design.T @ (design * (p * (1 - p))[:, None]) + ridge  # (2, 2)
        hess += np.eye(2) * 1e-9
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return beta


def lc_win_rate(x: np.ndarray, y: np.ndarray, penalty: float = SLOPE_PENALTY) -> float:
    """2 × the modelled preference at zero length difference (the papers' scale)."""
    b0 = fit_logistic(x, y, penalty)[0]
    return float(2.0 / (1.0 + np.exp(-b0)))


def share_not_longer(len_a: Sequence[float], len_b: Sequence[float]) -> float | None:
    """Share of items whose A answer is not longer than B's (len_a <= len_b); None with none."""
    if not len(len_a):
        return None
    return float(np.mean(np.asarray(len_a, np.float64) <= np.asarray(len_b, np.float64)))


def is_extrapolation(len_a: Sequence[float], len_b: Sequence[float]) -> bool:
    """Whether zero length difference lies outside the central 90% of the observed differences:
    fewer than EXTRAPOLATION_TAIL of the items with A not longer, or with A not shorter."""
    if not len(len_a):
        return False
    not_longer = share_not_longer(len_a, len_b)
    not_shorter = share_not_longer(len_b, len_a)
    return min(not_longer, not_shorter) < EXTRAPOLATION_TAIL


def _band_percent(p: float) -> tuple[float, float]:
    """`get_is_extreme_changes`' thresholds around a raw rate `p` on AlpacaEval's percent scale."""
    low = min(p - p / EXTREME_REL_DIVISOR, p - EXTREME_ABS_POINTS)
    high = max(p + (100.0 - p) / EXTREME_REL_DIVISOR, p + EXTREME_ABS_POINTS)
    return low, high


def extreme_change_band(raw: float) -> tuple[float, float]:
    """(lowest, highest) length-controlled rate AlpacaEval's rule accepts for a raw rate, both on
    the papers' scale and within it (0 to 2)."""
    low, high = _band_percent(PERCENT_PER_RATE * raw)
    return max(low / PERCENT_PER_RATE, 0.0), min(high / PERCENT_PER_RATE, 2.0)


def is_extreme_change(raw: float, lc: float) -> bool:
    """Whether the length-controlled rate lies outside AlpacaEval's band around the raw one
    (compared on its percent scale, as `get_is_extreme_changes` compares them)."""
    low, high = _band_percent(PERCENT_PER_RATE * raw)
    q = PERCENT_PER_RATE * lc
    return q < low or q > high


def length_warnings(
    raw: float, lc: float, len_a: Sequence[float], len_b: Sequence[float]
) -> list[str]:
    """The readable warnings of one length-controlled rate (empty when there are none); each
    starts with EXTRAPOLATION or EXTREME_CHANGE."""
    out = []
    if is_extrapolation(len_a, len_b):
        out.append(
            f"{EXTRAPOLATION}: A is not longer than B in {share_not_longer(len_a, len_b):.1%} of "
            f"the items and not shorter in {share_not_longer(len_b, len_a):.1%}; the "
            f"length-controlled rate reads the fit at equal length, which fewer than "
            f"{EXTRAPOLATION_TAIL:.0%} of the items reach on one side (the model's tanh shape "
            "decides it, not items judged at about equal length)"
        )
    if is_extreme_change(raw, lc):
        low, high = extreme_change_band(raw)
        out.append(
            f"{EXTREME_CHANGE}: the length-controlled rate {lc:.3f} lies outside "
            f"[{low:.3f}, {high:.3f}], AlpacaEval's band around the raw rate {raw:.3f} "
            "(alpaca_eval.metrics.glm_winrate.get_is_extreme_changes: a sign the GLM failed)"
        )
    return out


def length_controlled(
    outcomes: Sequence[str],
    len_a: Sequence[float],
    len_b: Sequence[float],
    samples: int,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float | list | None]:
    """{"win_rate_lc", "win_rate_lc_ci95", "length_slope", "share_a_not_longer",
    "length_warnings"} of judged items (A's view).

    `length_slope` is b1: how much the judge's preference moves with length (0 = none).
    None values (and no warnings) when there are no items; no interval when `samples` is 0.
    """
    if not outcomes:
        return {"win_rate_lc": None, "win_rate_lc_ci95": None, "length_slope": None,
                "share_a_not_longer": None, "length_warnings": []}  # fmt: skip
    x = length_feature(len_a, len_b)
    y = np.array([PREFERENCE[o] for o in outcomes], np.float64)  # (N,)
    b0, b1 = fit_logistic(x, y)
    lc = float(2.0 / (1.0 + np.exp(-b0)))
    ci = None
    if samples > 0:
        idx = np.random.default_rng(seed).integers(0, len(y), size=(samples, len(y)))  # (S, N)
        rates = [lc_win_rate(x[i], y[i]) for i in idx]
        lo, hi = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
        ci = [round(float(lo), 4), round(float(hi), 4)]
    return {
        "win_rate_lc": round(lc, 4),
        "win_rate_lc_ci95": ci,
        "length_slope": round(float(b1), 4),
        "share_a_not_longer": round(share_not_longer(len_a, len_b), 4),
        "length_warnings": length_warnings(2.0 * float(y.mean()), lc, len_a, len_b),
    }
