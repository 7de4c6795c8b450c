"""The report's plots, each a small function from columns to a PNG file (matplotlib, no display)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from recycle.report.wording import PIE_LABELS  # noqa: E402

OUTCOME_LABELS = PIE_LABELS
# scatter colours: kept, then drop reasons the filter writes (others are grey)
REASON_COLORS = {
    "": ("kept", "tab:green"),
    "response_not_reflected": ("dropped: response rewrite not taken", "tab:orange"),
    "ifd_not_below_one": ("dropped: IFD >= 1", "tab:red"),
    "rifd_not_below_one": ("dropped: r-IFD >= 1", "tab:purple"),
}


def _save(fig: plt.Figure, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # legends placed outside the axes included
    plt.close(fig)
    return path.name


def outcome_pie(counts: dict[str, int], path: Path) -> str | None:
    """The paper's four-outcome pie: which of the instruction and response rewrites the student took."""
    sizes = [counts.get(label, 0) for label in OUTCOME_LABELS]
    if sum(sizes) == 0:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    shown = [(s, lab) for s, lab in zip(sizes, OUTCOME_LABELS, strict=True) if s]
    wedges, _, _ = ax.pie([s for s, _ in shown], autopct="%1.0f%%", startangle=90, pctdistance=0.7)
    ax.legend(
        wedges,
        [f"{lab} ({s})" for s, lab in shown],
        loc="center left",
        bbox_to_anchor=(0.95, 0.5),
        fontsize=8,
        frameon=False,
    )
    ax.set_title("Rewrites the student took")
    return _save(fig, path)


HIST_BINS = 29  # equal bins over the range of a histogram's two sets of values together


def hist_edges(lo: float, hi: float) -> np.ndarray:
    """(HIST_BINS + 1,) bin edges over [lo, hi], the finite range of both sets of values; for a
    single value (lo == hi), matplotlib's 10 bins of width 0.1 around it."""
    return np.linspace(lo, hi, HIST_BINS + 1) if lo < hi else np.histogram_bin_edges([lo], 10)


@dataclass
class Binned:
    """A score's finite values counted over fixed bins, with their number and sum (the legend's
    n and mean): what a histogram draws, summed over part files (`add`)."""

    edges: np.ndarray  # (bins + 1,)
    counts: np.ndarray = field(init=False)  # (bins,)
    n: int = 0
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.edges) - 1, dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        """Count the finite ones of `values` (NaN: not scored)."""
        values = values[np.isfinite(values)]
        self.counts += np.histogram(values, self.edges)[0]
        self.n += values.size
        self.total += math.fsum(values)

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")


def before_after_hist(
    before: Binned, after: Binned, name: str, path: Path, better: str = "lower"
) -> str | None:
    """Histogram of a score on the original data and on the kept data, the 1.0 cut dashed; both
    counted over the same bins (`hist_edges` of their range)."""
    if before.n == 0 and after.n == 0:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for binned, label in ((before, "original"), (after, "kept")):
        if binned.n:
            # one weighted value per bin (its left edge): the bars a hist of the values draws
            edges = binned.edges
            label = f"{label} (n={binned.n}, mean {binned.mean:.3f})"
            ax.hist(edges[:-1], bins=edges, weights=binned.counts, alpha=0.55, label=label)
    ax.axvline(1.0, color="k", lw=0.8, ls="--", label="1.0: the filter's cut")
    ax.set_title(f"{name}: original vs kept samples")
    ax.set_xlabel(f"{name} ({better} is better below 1.0)")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    return _save(fig, path)


MAX_POINTS = 3000  # a scatter draws at most this many points (a random, seeded subset)


def drawn_positions(n: int, most: int = MAX_POINTS) -> np.ndarray:
    """Which of `n` points (in row order) a scatter draws, ascending: all, or a random `most` of
    them (seed 0). Known from the count alone, so the points can be kept as the rows go by."""
    if n <= most:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=most, replace=False))


def scatter_group(reasons: np.ndarray) -> np.ndarray:
    """(N,) a point's colour group: its reason when REASON_COLORS has it ("" is kept), else None."""
    reasons = np.asarray(reasons, dtype=object)
    return np.where(np.isin(reasons, list(REASON_COLORS)), reasons, None)


@dataclass
class ScatterPoints:
    """The points a scatter draws (IFD, r-IFD and reason of each, in row order) and how many
    finite points each colour group has in all (`scatter_group`; the legend's counts)."""

    ifd: np.ndarray  # (D,)
    rifd: np.ndarray  # (D,)
    reasons: np.ndarray  # (D,) object
    group_counts: dict[str | None, int]

    @property
    def total(self) -> int:
        return sum(self.group_counts.values())


def ifd_rifd_scatter(points: ScatterPoints, path: Path) -> str | None:
    """IFD x r-IFD of the final pairs, coloured by outcome (kept, or the drop reason)."""
    if not points.total:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4.4))
    groups = [(r, *REASON_COLORS[r]) for r in REASON_COLORS]
    groups.append((None, "dropped: other reasons", "tab:gray"))
    drawn_group = scatter_group(points.reasons)
    for group, label, color in groups:
        n = points.group_counts.get(group, 0)
        if n:
            shown = np.array([g == group for g in drawn_group], dtype=bool)
            ax.scatter(
                points.ifd[shown],
                points.rifd[shown],
                s=10,
                alpha=0.6,
                c=color,
                label=f"{label} ({n})",
            )
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    title = "Final pairs: keep region is IFD < 1 and r-IFD < 1"
    if len(points.ifd) < points.total:
        title += f"\n(a random {len(points.ifd):,} of {points.total:,} drawn; counts are of all)"
    ax.set_title(title)
    ax.set_xlabel("IFD(x2, y2)")
    ax.set_ylabel("r-IFD(x2, y2)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    return _save(fig, path)
