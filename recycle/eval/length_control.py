"""A length-controlled pairwise verdict: the judge's preference with the answers' length taken out.

LLM judges favour longer answers, and recycled answers are longer. AlpacaEval 2's idea, applied to
the papers' both-orders judge: model the preference of one item (win 1, tie ½, lose 0, A's view)
as a logistic function of an intercept plus tanh of the standardized length difference
(A's characters minus B's, divided by their standard deviation),

    P(A preferred) = sigmoid(b0 + b1 * tanh((len_a - len_b) / sd)),

and report the preference predicted at zero length difference, sigmoid(b0), on the papers' scale:
win rate = 2 × preference (1 = parity, 2 = A always better). A percentile bootstrap over items
gives its interval. A tiny ridge penalty on b1 alone keeps the fit finite when the outcomes are
perfectly separated by length; it never pulls b0 (the verdict) towards parity.

Pure: numpy only, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recycle.eval.pairwise_rule import LOSE, TIE, WIN

PREFERENCE = {WIN: 1.0, TIE: 0.5, LOSE: 0.0}
SLOPE_PENALTY = 1e-3  # ridge weight on b1, per item
_NEWTON_STEPS = 50


def length_feature(len_a: Sequence[float], len_b: Sequence[float]) -> np.ndarray:
    """tanh of the length difference divided by its standard deviation; (N,). All zeros when
    every difference is the same (nothing to separate length from quality)."""
    diff = np.asarray(len_a, np.float64) - np.asarray(len_b, np.float64)  # (N,)
    sd = diff.std()
    return np.tanh(diff / sd) if sd > 0 else np.zeros_like(diff)


def fit_logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(b0, b1) of a logistic model of soft labels `y` (N,) in [0, 1] on one feature `x` (N,),
    by Newton's method on the cross-entropy plus SLOPE_PENALTY * N * b1² / 2."""
    design = np.stack([np.ones_like(x), x], axis=1)  # (N, 2)
    penalty = np.diag([0.0, SLOPE_PENALTY * len(x)])  # (2, 2)
    beta = np.zeros(2)
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))  # (N,)
        grad = design.T @ (p - y) + penalty @ beta  # (2,)
        hess = design.T @ (design * (p * (1 - p))[:, None]) + penalty  # (2, 2)
        hess += np.eye(2) * 1e-9
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return beta


def lc_win_rate(x: np.ndarray, y: np.ndarray) -> float:
    """2 × the modelled preference at zero length difference (the papers' scale)."""
    b0 = fit_logistic(x, y)[0]
    return float(2.0 / (1.0 + np.exp(-b0)))


def length_controlled(
    outcomes: Sequence[str],
    len_a: Sequence[float],
    len_b: Sequence[float],
    samples: int,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float | list[float] | None]:
    """{"win_rate_lc", "win_rate_lc_ci95", "length_slope"} of judged items (A's view).

    `length_slope` is b1: how much the judge's preference moves with length (0 = none).
    None values when there are no items; no interval when `samples` is 0.
    """
    if not outcomes:
        return {"win_rate_lc": None, "win_rate_lc_ci95": None, "length_slope": None}
    x = length_feature(len_a, len_b)
    y = np.array([PREFERENCE[o] for o in outcomes], np.float64)  # (N,)
    b0, b1 = fit_logistic(x, y)
    ci = None
    if samples > 0:
        idx = np.random.default_rng(seed).integers(0, len(y), size=(samples, len(y)))  # (S, N)
        rates = [lc_win_rate(x[i], y[i]) for i in idx]
        lo, hi = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
        ci = [round(float(lo), 4), round(float(hi), 4)]
    return {
        "win_rate_lc": round(float(2.0 / (1.0 + np.exp(-b0))), 4),
        "win_rate_lc_ci95": ci,
        "length_slope": round(float(b1), 4),
    }
