"""The win/tie/lose table of judged pairs, per set and in total, with what no anchor reports:
a bootstrap interval of the win rate, a length-controlled win rate (recycle.eval.length_control)
with its own interval, the share of items where A is not longer than B and the length-control
warnings (extrapolation, extreme change), how often the two orders disagree, and answer lengths.

Pure: takes the pair rows (`recycle.eval.columns.PAIR_COLUMNS`), returns plain data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from recycle.eval import columns as E
from recycle.eval.length_control import length_controlled
from recycle.eval.pairwise_rule import LOSE, OUTCOMES, TIE, WIN, is_parsed, order_signs, win_rate

_VALUE = {WIN: 1, TIE: 0, LOSE: -1}


def tally(outcomes: Sequence[str]) -> dict[str, Any]:
    """{"win", "tie", "lose", "n", "win_rate"} of a list of outcomes (A's point of view)."""
    c = Counter(outcomes)
    n = sum(c[o] for o in OUTCOMES)
    return {
        "win": c[WIN],
        "tie": c[TIE],
        "lose": c[LOSE],
        "n": n,
        "win_rate": win_rate(c[WIN], c[LOSE], n) if n else None,
    }


def bootstrap_interval(
    outcomes: Sequence[str], samples: int, seed: int = 0, level: float = 0.95
) -> list[float] | None:
    """Percentile bootstrap interval of the win rate (items resampled with replacement)."""
    if not outcomes or samples <= 0:
        return None
    values = np.array([_VALUE[o] for o in outcomes], dtype=np.float64)  # (N,)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(samples, len(values)))  # (S, N)
    rates = values[idx].mean(axis=1) + 1.0  # (S,) (W - L) / N + 1
    lo, hi = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
    return [round(float(lo), 4), round(float(hi), 4)]


def order_agreement(pairs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How often the two orders disagree on which answer is better (the judge's position bias).

    Among pairs whose two reviews both parsed: `disagree` = the orders' verdicts differ at all,
    `flip` = one order prefers A and the other B, `first_favoured` = how often Assistant 1 scored
    higher, over every parsed review (0.5 for a judge without position bias, ties left out).
    """
    both = [p for p in pairs if is_parsed(p[E.SCORES_FORWARD]) and is_parsed(p[E.SCORES_REVERSE])]
    signs = [order_signs(p[E.SCORES_FORWARD], p[E.SCORES_REVERSE]) for p in both]
    firsts = [
        s[0] > s[1]
        for p in both
        for s in (p[E.SCORES_FORWARD], p[E.SCORES_REVERSE])
        if s[0] != s[1]
    ]
    n = len(signs)
    return {
        "pairs": n,
        "disagree_rate": round(sum(f != r for f, r in signs) / n, 4) if n else None,
        "flip_rate": round(sum(f * r == -1 for f, r in signs) / n, 4) if n else None,
        "first_favoured_rate": round(sum(firsts) / len(firsts), 4) if firsts else None,
    }


def mean_lengths(pairs: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Mean answer length of A and B in words and characters (judges favour length)."""
    if not pairs:
        return {"a_words": None, "b_words": None, "a_chars": None, "b_chars": None}
    n = len(pairs)
    return {
        "a_words": round(sum(len(p[E.ANSWER_A].split()) for p in pairs) / n, 1),
        "b_words": round(sum(len(p[E.ANSWER_B].split()) for p in pairs) / n, 1),
        "a_chars": round(sum(len(p[E.ANSWER_A]) for p in pairs) / n, 1),
        "b_chars": round(sum(len(p[E.ANSWER_B]) for p in pairs) / n, 1),
    }


def summarize(
    pairs: Sequence[dict[str, Any]], bootstrap_samples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """summary.json: per set and in total, win/tie/lose/n/win_rate of A against B, plus the
    bootstrap interval, order agreement, answer lengths and the pairs that could not be judged."""
    by_set: dict[str, list[dict[str, Any]]] = {}
    for p in pairs:
        by_set.setdefault(p[E.DATASET], []).append(p)
    sets = {name: _block(rows, bootstrap_samples, seed) for name, rows in by_set.items()}
    return {"sets": sets, "total": _block(pairs, bootstrap_samples, seed)}


def length_controlled_block(
    pairs: Sequence[dict[str, Any]], samples: int, seed: int
) -> dict[str, Any]:
    """win_rate_lc, its interval, the length slope, share_a_not_longer and length_warnings of the
    judged pairs (lengths in characters)."""
    judged = [p for p in pairs if p[E.OUTCOME] is not None]
    return length_controlled(
        [p[E.OUTCOME] for p in judged],
        [len(p[E.ANSWER_A]) for p in judged],
        [len(p[E.ANSWER_B]) for p in judged],
        samples,
        seed,
    )


def _block(pairs: Sequence[dict[str, Any]], samples: int, seed: int) -> dict[str, Any]:
    judged = [p[E.OUTCOME] for p in pairs if p[E.OUTCOME] is not None]
    unparseable = sum(
        not is_parsed(p[s])
        for p in pairs
        if p[E.OUTCOME] is not None
        for s in (E.SCORES_FORWARD, E.SCORES_REVERSE)
    )
    return {
        **tally(judged),
        "win_rate_ci95": bootstrap_interval(judged, samples, seed),
        **length_controlled_block(pairs, samples, seed),
        "not_judged": len(pairs) - len(judged),
        "unparseable_reviews": unparseable,
        "order_agreement": order_agreement([p for p in pairs if p[E.OUTCOME] is not None]),
        "mean_length": mean_lengths(pairs),
    }
