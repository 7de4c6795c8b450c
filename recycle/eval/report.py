"""The judge's report: the papers' stacked win/tie/lose bars per set, and a markdown summary with
what they leave out (bootstrap interval, order disagreement, answer lengths, unjudged pairs)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FIGURE = "win_tie_lose.png"
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
        "",
        "| set | win | tie | lose | n | win rate | 95% CI | orders disagree | mean words A / B |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in {**summary["sets"], "total": total}.items():
        agree, length = s["order_agreement"], s["mean_length"]
        lines.append(
            f"| {name} | {s['win']} | {s['tie']} | {s['lose']} | {s['n']} | {_f(s['win_rate'])} "
            f"| {_ci(s['win_rate_ci95'])} | {_f(agree['disagree_rate'])} "
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
    ]
    return "\n".join(lines)


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ci(ci: list[float] | None) -> str:
    return "n/a" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
