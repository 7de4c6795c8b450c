"""The report's plots, each a small function from columns to a PNG file (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

OUTCOME_LABELS = ("both reflected", "instruction only", "response only", "neither")


def _save(fig: plt.Figure, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def outcome_pie(counts: dict[str, int], path: Path) -> str | None:
    """The paper's four-outcome pie: which of instruction and response reflections were kept."""
    sizes = [counts.get(label, 0) for label in OUTCOME_LABELS]
    if sum(sizes) == 0:
        return None
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    shown = [(s, lab) for s, lab in zip(sizes, OUTCOME_LABELS, strict=True) if s]
    ax.pie(
        [s for s, _ in shown],
        labels=[f"{lab}\n{s}" for s, lab in shown],
        autopct="%1.0f%%",
        startangle=90,
    )
    ax.set_title("Student choices per sample")
    return _save(fig, path)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def before_after_hist(before: np.ndarray, after: np.ndarray, name: str, path: Path) -> str | None:
    """Histogram of a score on the original data and on the final data."""
    b, a = _finite(before), _finite(after)
    if b.size == 0 and a.size == 0:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    both = np.concatenate([b, a])
    bins = np.linspace(both.min(), both.max(), 30) if both.min() < both.max() else 10
    if b.size:
        ax.hist(b, bins=bins, alpha=0.55, label=f"original (n={b.size}, mean {b.mean():.3f})")
    if a.size:
        ax.hist(a, bins=bins, alpha=0.55, label=f"final (n={a.size}, mean {a.mean():.3f})")
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel(name)
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    return _save(fig, path)


def ifd_rifd_scatter(ifd: np.ndarray, rifd: np.ndarray, kept: np.ndarray, path: Path) -> str | None:
    """IFD x r-IFD of the final pairs, kept and dropped, with the filter's thresholds."""
    ifd, rifd, kept = (np.asarray(v) for v in (ifd, rifd, kept))
    if ifd.shape != rifd.shape:  # a mode that computes one of the two (ifd_topk): no scatter
        return None
    ok = np.isfinite(ifd.astype(float)) & np.isfinite(rifd.astype(float))
    if not ok.any():
        return None
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for mask, label, color in (
        (kept & ok, "kept", "tab:green"),
        (~kept & ok, "dropped", "tab:gray"),
    ):
        if mask.any():
            ax.scatter(
                ifd[mask], rifd[mask], s=10, alpha=0.6, label=f"{label} ({mask.sum()})", c=color
            )
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("IFD(x2, y2)")
    ax.set_ylabel("r-IFD(x2, y2)")
    ax.legend(fontsize=8)
    return _save(fig, path)
