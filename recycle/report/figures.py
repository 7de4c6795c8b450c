"""The report's plots, each a small function from columns to a PNG file (matplotlib, no display)."""

from __future__ import annotations

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


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def before_after_hist(
    before: np.ndarray, after: np.ndarray, name: str, path: Path, better: str = "lower"
) -> str | None:
    """Histogram of a score on the original data and on the kept data, the 1.0 cut dashed."""
    b, a = _finite(before), _finite(after)
    if b.size == 0 and a.size == 0:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    both = np.concatenate([b, a])
    bins = np.linspace(both.min(), both.max(), 30) if both.min() < both.max() else 10
    if b.size:
        ax.hist(b, bins=bins, alpha=0.55, label=f"original (n={b.size}, mean {b.mean():.3f})")
    if a.size:
        ax.hist(a, bins=bins, alpha=0.55, label=f"kept (n={a.size}, mean {a.mean():.3f})")
    ax.axvline(1.0, color="k", lw=0.8, ls="--", label="1.0: the filter's cut")
    ax.set_title(f"{name}: original vs kept samples")
    ax.set_xlabel(f"{name} ({better} is better below 1.0)")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    return _save(fig, path)


MAX_POINTS = 3000  # a scatter draws at most this many points (a random, seeded subset)


def drawn_points(ok: np.ndarray, most: int = MAX_POINTS) -> np.ndarray:
    """Which of the `ok` points a scatter draws: all, or a random `most` of them (seed 0)."""
    if ok.sum() <= most:
        return ok
    chosen = np.random.default_rng(0).choice(np.flatnonzero(ok), size=most, replace=False)
    drawn = np.zeros_like(ok)
    drawn[chosen] = True
    return drawn


def ifd_rifd_scatter(
    ifd: np.ndarray, rifd: np.ndarray, reasons: np.ndarray, path: Path
) -> str | None:
    """IFD x r-IFD of the final pairs, coloured by outcome (kept, or the drop reason)."""
    ifd, rifd = np.asarray(ifd, dtype=float), np.asarray(rifd, dtype=float)
    reasons = np.asarray(reasons, dtype=object)
    if ifd.shape != rifd.shape:  # a mode that computes one of the two (ifd_topk): no scatter
        return None
    ok = np.isfinite(ifd) & np.isfinite(rifd)
    if not ok.any():
        return None
    drawn = drawn_points(ok)
    fig, ax = plt.subplots(figsize=(5.5, 4.4))
    known = set(REASON_COLORS)
    groups = [(r, *REASON_COLORS[r]) for r in REASON_COLORS]
    groups.append((None, "dropped: other reasons", "tab:gray"))
    for reason, label, color in groups:
        mask = ok & (~np.isin(reasons, list(known)) if reason is None else reasons == reason)
        if mask.any():
            shown = mask & drawn
            ax.scatter(
                ifd[shown], rifd[shown], s=10, alpha=0.6, c=color, label=f"{label} ({mask.sum()})"
            )
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    title = "Final pairs: keep region is IFD < 1 and r-IFD < 1"
    if drawn.sum() < ok.sum():
        title += f"\n(a random {drawn.sum():,} of {ok.sum():,} drawn; counts are of all)"
    ax.set_title(title)
    ax.set_xlabel("IFD(x2, y2)")
    ax.set_ylabel("r-IFD(x2, y2)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    return _save(fig, path)
