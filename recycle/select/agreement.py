"""How far two scorers agree on the same rows: rank correlation of their scores, overlap of their picks.

Superfiltering (arXiv 2402.00530) found that a small LM (GPT-2 class) ranks instruction data by
IFD much as a 7B student does, at a fraction of the cost. Whether that holds for a given dataset
and student is measured here, on the rows two scored runs share (joined by sample_id):

- Spearman's rho of IFD, and of r-IFD where both runs computed it: the Pearson correlation of the
  ranks, ties given their average rank, over the rows both scored (a NaN score is left out).
- The overlap of each run's top set at k% by IFD, each chosen by the project's one ifd_topk rule
  (`select_ifd_topk`: unscored and IFD >= 1 dropped, the top ceil(k% of the shared rows) kept, the
  Cherry LLM / Superfiltering selection), and of the runs' kept sets when both selected.

Overlap of two sets A and B = |A & B| / max(|A|, |B|): the share of a top k% the other run also
picks when both sets are full, 1.0 only for the same set, and never flattering a short set.

Pure functions over pandas frames: recycle.commands.agree reads the run directories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from recycle import columns as C
from recycle.config.selection import SelectionConfig
from recycle.errors import InputError
from recycle.select.topk import select_ifd_topk

TOP_PERCENTS = (5.0, 10.0, 15.0)
KEPT = "kept"
STATISTICS = ((C.IFD, "IFD"), (C.RIFD, "r-IFD"))


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho of one statistic over the rows both runs scored.

    Attributes:
        statistic: "IFD" or "r-IFD".
        rows: rows with a finite score in both runs.
        rho: None where a run did not compute the statistic; NaN with fewer than two rows or a
            constant score (no ranking to compare).
    """

    statistic: str
    rows: int
    rho: float | None


@dataclass(frozen=True)
class Overlap:
    """Two runs' picks among the shared rows: a top k% by IFD, or their kept sets."""

    name: str
    size_a: int
    size_b: int
    shared: int

    @property
    def overlap(self) -> float | None:
        """|A & B| / max(|A|, |B|); None when both sets are empty."""
        larger = max(self.size_a, self.size_b)
        return self.shared / larger if larger else None


@dataclass(frozen=True)
class Agreement:
    """The agreement of run A and run B on the rows they share (`runs`: what A and B are)."""

    shared_rows: int
    only_a: int
    only_b: int
    correlations: tuple[Correlation, ...]
    overlaps: tuple[Overlap, ...]
    runs: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """Plain values (overlaps with their ratio), for JSON and notebooks."""
        out = asdict(self)
        out["overlaps"] = [asdict(o) | {"overlap": o.overlap} for o in self.overlaps]
        return out


def spearman_rho(a: Sequence[float], b: Sequence[float]) -> tuple[float, int]:
    """(rho, n): Spearman's rank correlation over the n pairs where both values are finite.

    Ranks are 1..n with ties given their average rank (scipy.stats.rankdata's "average"); rho is
    the Pearson correlation of the ranks. NaN when n < 2 or either side is constant.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.isfinite(x) & np.isfinite(y)
    n = int(both.sum())
    rx = pd.Series(x[both]).rank(method="average").to_numpy()  # (n,)
    ry = pd.Series(y[both]).rank(method="average").to_numpy()  # (n,)
    if n < 2 or rx.std() == 0.0 or ry.std() == 0.0:
        return float("nan"), n
    return float(np.corrcoef(rx, ry)[0, 1]), n


def top_set(rows: pd.DataFrame, percent: float) -> set[str]:
    """Sample ids `select_ifd_topk` keeps at `percent` among `rows` (SAMPLE_ID, IFD)."""
    df = pd.DataFrame({C.SAMPLE_ID: rows[C.SAMPLE_ID], C.IFD: rows[C.IFD]})
    df[C.OUTCOME], df[C.REASON], df[C.DETAIL], df[C.STAGE] = C.OUTCOME_KEPT, "", "", ""
    picked = select_ifd_topk(df, SelectionConfig(mode="ifd_topk", topk_percent=percent))
    return set(picked.loc[C.kept_mask(picked[C.OUTCOME]), C.SAMPLE_ID])


def _overlap(name: str, a: set[str], b: set[str]) -> Overlap:
    return Overlap(name, len(a), len(b), len(a & b))


def _unique(rows: pd.DataFrame, run: str) -> pd.DataFrame:
    C.require_columns(f"agree ({run})", rows.columns, (C.SAMPLE_ID, C.IFD))
    return rows.drop_duplicates(C.SAMPLE_ID).set_index(C.SAMPLE_ID)


def agreement(
    a: pd.DataFrame, b: pd.DataFrame, percents: Sequence[float] = TOP_PERCENTS
) -> Agreement:
    """The agreement of two runs' rows, joined by sample id.

    Args:
        a, b: one row per sample: SAMPLE_ID and IFD; RIFD where the run computed r-IFD; OUTCOME
            (kept / dropped) where the run selected, so that their kept sets are compared.
        percents: the k of the top k% sets by IFD.

    Raises:
        InputError: the runs share no sample, or no shared sample has an IFD in both.
    """
    ua, ub = _unique(a, "run A"), _unique(b, "run B")
    ids = ua.index.intersection(ub.index, sort=False).sort_values()
    if ids.empty:
        raise InputError(
            "the two runs share no rows (joined by sample_id): score the same input with both "
            "scorers (`recycle score --input DATA` twice, one student.model each)"
        )
    ra, rb = ua.loc[ids], ub.loc[ids]
    correlations = tuple(Correlation(label, *_rho(ra, rb, col)) for col, label in STATISTICS)
    if correlations[0].rows == 0:
        raise InputError(
            f"none of the {len(ids)} shared rows has an IFD in both runs: nothing to compare"
        )
    both = {name: r.reset_index() for name, r in (("a", ra), ("b", rb))}
    overlaps = [
        _overlap(f"top {p:g}% by IFD", top_set(both["a"], p), top_set(both["b"], p))
        for p in percents
    ]
    if C.OUTCOME in ra and C.OUTCOME in rb:
        kept_a, kept_b = (set(r.index[C.kept_mask(r[C.OUTCOME])]) for r in (ra, rb))
        overlaps.append(_overlap(KEPT, kept_a, kept_b))
    only_a, only_b = len(ua) - len(ids), len(ub) - len(ids)
    return Agreement(len(ids), only_a, only_b, correlations, tuple(overlaps))


def _rho(ra: pd.DataFrame, rb: pd.DataFrame, col: str) -> tuple[int, float | None]:
    """(rows, rho) of one statistic; (0, None) where a run lacks it."""
    if col not in ra or col not in rb:
        return 0, None
    rho, n = spearman_rho(ra[col], rb[col])
    return n, rho
