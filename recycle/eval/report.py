"""The judge's report: the papers' stacked win/tie/lose bars per set, the outcome against the
answers' length difference, and a markdown summary with what the papers leave out (bootstrap
interval, length-controlled win rate with the share of items where A is not longer and its
warnings, order disagreement, answer lengths, unjudged pairs)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from recycle.eval.length_control import (  # noqa: E402
    PREFERENCE,
    fit_logistic,
    length_feature,
    length_scale,
)

FIGURE = "win_tie_lose.png"
LENGTH_FIGURE = "outcome_vs_length.png"
SUMMARY_MD = "summary.md"


def stacked_bars(summary: dict[str, Any], name_a: str, name_b: str) -> bytes:
    """PNG bytes of one horizontal bar per set (and the total): A wins, ties, B wins."""
    rows = {**summary["sets"], "total": summary["total"]}
    labels = list(rows)
    data = np.array([[rows[k]["win"], rows[k]["tie"], rows[k]["lose"]] for k in labels], float)
    shares = data / np.maximum(data.sum(axis=1, keepdims=True), 1)  # (sets, 3)
    colors = plt.colormaps["RdYlBu"](np.linspace(0.2, 0.8, 3))
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(labels) + 1.5))
    ax.invert_yaxis()
    left = np.zeros(len(labels))
    for i, name in enumerate((f"{name_a} wins", "tie", f"{name_b} wins")):
        bars = ax.barh(labels, shares[:, i], left=left, height=0.6, label=name, color=colors[i])
        ax.bar_label(
            bars, labels=[str(int(v)) if v else "" for v in data[:, i]], label_type="center"
        )
        left += shares[:, i]
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of items")
    ax.legend(ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def length_plot(
    outcomes: list[str], len_a: list[int], len_b: list[int], name_a: str, name_b: str
) -> bytes:
    """PNG bytes: each judged item's preference (win 1, tie ½, lose 0; jittered) against A's
    length minus B's, with the length model's curve and its value at zero difference."""
    diff = np.asarray(len_a, float) - np.asarray(len_b, float)  # (N,)
    y = np.array([PREFERENCE[o] for o in outcomes], float)  # (N,)
    fig, ax = plt.subplots(figsize=(7, 4))
    jitter = np.random.default_rng(0).uniform(-0.03, 0.03, len(y))
    ax.scatter(diff, y + jitter, s=10, alpha=0.5, label="items")
    sd = length_scale(len_a, len_b)
    if len(y) and sd > 0:
        b0, b1 = fit_logistic(length_feature(len_a, len_b), y)
        grid = np.linspace(diff.min(), diff.max(), 200)  # (G,)
        curve = 1 / (1 + np.exp(-(b0 + b1 * np.tanh(grid / sd))))
        ax.plot(grid, curve, color="C3", label="length model")
        ax.scatter([0], [1 / (1 + np.exp(-b0))], color="C3", zorder=3, label="at equal length")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(f"length of {name_a} minus {name_b} (characters)")
    ax.set_ylabel(f"preference for {name_a}")
    ax.set_ylim(-0.1, 1.1)
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def summary_markdown(
    summary: dict[str, Any], judge: dict[str, Any], name_a: str, name_b: str
) -> str:
    """The verdict as markdown: the table, then the judge's cost and biases."""
    total = summary["total"]
    lines = [
        f"# {name_a} vs {name_b}",
        "",
        f"Win rate of {name_a} (wins - losses) / n + 1: **{_f(total['win_rate'])}** "
        f"(95% bootstrap interval {_ci(total['win_rate_ci95'])}; 1 = no difference).",
        f"Length-controlled win rate (the judge's preference at equal answer length, x2): "
        f"**{_f(total['win_rate_lc'])}** (95% bootstrap interval {_ci(total['win_rate_lc_ci95'])});"
        f" length slope {_f(total['length_slope'])} (0 = the judge ignores length);"
        f" {name_a} not longer than {name_b} in {_pct(total['share_a_not_longer'])} of the items.",
        *[f"\n> **Warning ({name})**: {w}" for name, w in length_warning_lines(summary)],
        "",
        "| set | win | tie | lose | n | win rate | 95% CI | LC win rate | LC 95% CI "
        "| A not longer | orders disagree | mean words A / B |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in {**summary["sets"], "total": total}.items():
        agree, length = s["order_agreement"], s["mean_length"]
        lines.append(
            f"| {name} | {s['win']} | {s['tie']} | {s['lose']} | {s['n']} | {_f(s['win_rate'])} "
            f"| {_ci(s['win_rate_ci95'])} | {_f(s['win_rate_lc'])} | {_ci(s['win_rate_lc_ci95'])} "
            f"| {_pct(s['share_a_not_longer'])} "
            f"| {_f(agree['disagree_rate'])} "
            f"| {length['a_words']} / {length['b_words']} |"
        )
    lines += [
        "",
        f"Not judged (the judge gave no review): {total['not_judged']}. Unparseable reviews "
        f"(counted as -1 -1, the authors' rule): {total['unparseable_reviews']}.",
        f"Assistant 1 scored higher in {_f(total['order_agreement']['first_favoured_rate'])} of "
        "the reviews that were not ties (0.5 = no position bias).",
        f"Judge: {judge.get('model')} at {judge.get('base_url')}; {judge.get('requests', 0)} requests, "
        f"{judge.get('cache_hits', 0)} cache hits, {judge.get('prompt_tokens', 0)}+"
        f"{judge.get('completion_tokens', 0)} tokens, ${judge.get('cost_usd', 0.0):.4f}.",
        "",
        f"![win/tie/lose]({FIGURE})",
        "",
        f"![outcome against length difference]({LENGTH_FIGURE})",
        "",
    ]
    return "\n".join(lines)


def length_warning_lines(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, warning) of the length-control warnings: the total's in full, then one line naming
    each set that warns and of what ("set0: extrapolation, extreme change; set1: ...")."""
    lines = [("total", w) for w in summary["total"]["length_warnings"]]
    flagged = [
        f"{name}: {', '.join(w.split(':')[0] for w in block['length_warnings'])}"
        for name, block in summary["sets"].items()
        if block["length_warnings"]
    ]
    return lines + ([("sets", "; ".join(flagged))] if flagged else [])


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ci(ci: list[float] | None) -> str:
    return "n/a" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
