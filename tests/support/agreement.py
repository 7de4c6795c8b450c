"""Read back the tables `recycle agree` prints, and what they should say, from the runs' own columns."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import spearmanr


def printed_rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows of the printed agreement: first cell -> the other cells."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) > 2 and not cells[1].startswith("-"):
            rows[cells[0]] = cells[1:]
    return rows


def scipy_rho(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """scipy's Spearman rho over the rows where both scores are finite, and their number."""
    both = np.isfinite(a) & np.isfinite(b)
    return float(spearmanr(a[both], b[both]).statistic), int(both.sum())


def expected_top(ids: list[str], ifd: np.ndarray, percent: float) -> set[str]:
    """Cherry / Superfiltering top k%, written out: IFD < 1, highest first (ties by id), the first
    ceil(k% of all rows)."""
    k = math.ceil(len(ids) * percent / 100.0)
    score = dict(zip(ids, ifd, strict=True))
    ranked = sorted(
        (i for i in ids if np.isfinite(score[i]) and score[i] < 1.0), key=lambda i: (-score[i], i)
    )
    return set(ranked[:k])
