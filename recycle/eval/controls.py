"""Controls of a data-selection verdict: which rows of the original data each control fine-tunes
on, and how the recycled model's verdict compares with the controls'. Pure (no Ray, no I/O).

A selection method should beat, at the same data size, the two controls critiques of self-scored
selection use (and which selection methods do not always beat):

- `random`: a seeded random subset of the original data, of the kept size;
- `length`: the longest responses of the original data, of the kept size ("long is more").

Rows are the original data's usable samples (the pipeline's reading: rejects and duplicates left
out), ordered by sample_id so that a seed picks the same rows however the input was read. Where
the kept set is as large as that, a subset of the same size is the data itself: controls do not
apply.

Each control is judged against the same baseline as the recycled model. Recycling beat a control
when its interval lies above the control's, on the first figure every row has an interval for:
the pairwise judge's win rate (95% bootstrap), else AlpacaEval's win rate of A (± 1.96 standard
errors). Overlapping intervals: not shown to differ.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

CONTROLS = ("random", "length")
Z95 = 1.96


def controls_apply(kept: int, usable: int) -> bool:
    """Whether a subset of `kept` rows of `usable` differs from the whole data."""
    return 0 < kept < usable


def random_subset(n_rows: int, size: int, seed: int) -> list[int]:
    """`size` distinct positions of `n_rows`, drawn with numpy's default_rng(seed); ascending."""
    if not 0 <= size <= n_rows:
        raise ValueError(f"a subset of {size} rows out of {n_rows}")
    return sorted(np.random.default_rng(seed).choice(n_rows, size=size, replace=False).tolist())


def longest_subset(lengths: Sequence[int], size: int) -> list[int]:
    """Positions of the `size` longest responses (ties: the earlier row); ascending."""
    if not 0 <= size <= len(lengths):
        raise ValueError(f"a subset of {size} rows out of {len(lengths)}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return sorted(order[:size])


def response_length(output: str | None, messages: str | None) -> int:
    """Characters of a sample's response: its output, or a conversation's assistant turns."""
    if messages:
        return sum(
            len(m.get("content") or "")
            for m in json.loads(messages)
            if m.get("role") == "assistant"
        )
    return len(output or "")


def control_positions(control: str, lengths: Sequence[int], size: int, seed: int) -> list[int]:
    """The positions (in sample_id order) a control fine-tunes on."""
    if control == "random":
        return random_subset(len(lengths), size, seed)
    if control == "length":
        return longest_subset(lengths, size)
    raise ValueError(f"unknown control {control!r}; known: {CONTROLS}")


# -- the verdict beside the controls -------------------------------------------------------------


def figures(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A verdict's comparable figures of A against the baseline, each {value, ci (or None)}:
    the pairwise win rate and its length-controlled rate (papers' scale, 1 = parity), AlpacaEval's
    win rate of A (percent), lm-eval's average A - B (x100)."""
    out: dict[str, dict[str, Any]] = {}
    pairwise = verdict.get("pairwise")
    if pairwise:
        out["win_rate"] = {"value": pairwise["win_rate"], "ci": pairwise["win_rate_ci95"]}
        out["win_rate_lc"] = {"value": pairwise["win_rate_lc"], "ci": pairwise["win_rate_lc_ci95"]}
    alpaca = (verdict.get("alpaca_eval") or {}).get("a")
    if alpaca:
        value, se = alpaca["win_rate"], alpaca.get("standard_error")
        ci = None if se is None else [round(value - Z95 * se, 4), round(value + Z95 * se, 4)]
        out["alpaca_eval"] = {"value": value, "ci": ci}
    lm = verdict.get("lm_eval")
    if lm and lm["difference"].get("average") is not None:
        out["lm_eval"] = {"value": 100 * lm["difference"]["average"], "ci": None}
    return out


def decisive_figure(rows: dict[str, dict[str, dict[str, Any]]]) -> str | None:
    """The first figure (win rate, AlpacaEval) that every row has an interval for."""
    for key in ("win_rate", "alpaca_eval"):
        if all((r.get(key) or {}).get("ci") for r in rows.values()):
            return key
    return None


def compare(recycled: Sequence[float], control: Sequence[float]) -> str:
    """'above' (recycled's interval entirely above the control's), 'below', or 'overlap'."""
    if recycled[0] > control[1]:
        return "above"
    if recycled[1] < control[0]:
        return "below"
    return "overlap"


def conclusion(rows: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Whether recycling beat each control on the decisive figure, and the one line saying so."""
    key = decisive_figure(rows)
    controls = [c for c in rows if c != "recycled"]
    if key is None:
        return {"figure": None, "outcomes": {}, "beat_all": None,
                "line": "No figure has an interval for every row: whether recycling beat the "
                        "controls is not decided."}  # fmt: skip
    ci = {name: rows[name][key]["ci"] for name in rows}
    outcomes = {c: compare(ci["recycled"], ci[c]) for c in controls}
    label = FIGURE_LABELS[key]
    shown = ", ".join(f"{c} {_ci(ci[c])}" for c in controls)
    beaten = [c for c in controls if outcomes[c] == "above"]
    if len(beaten) == len(controls):
        line = f"Recycling beat the controls: its {label} interval {_ci(ci['recycled'])} lies above {shown}."
    elif beaten:
        rest = [c for c in controls if c not in beaten]
        line = (f"Recycling beat the {' and '.join(beaten)} control but not the {' and '.join(rest)} "
                f"control: its {label} interval {_ci(ci['recycled'])}; {shown}.")  # fmt: skip
    else:
        line = (f"Recycling did not beat the controls: its {label} interval {_ci(ci['recycled'])} "
                f"does not lie above {shown}.")  # fmt: skip
    return {"figure": key, "outcomes": outcomes, "beat_all": len(beaten) == len(controls),
            "line": line}  # fmt: skip


FIGURE_LABELS = {
    "win_rate": "pairwise win rate (95% bootstrap)",
    "win_rate_lc": "length-controlled win rate (95% bootstrap)",
    "alpaca_eval": "AlpacaEval win rate of A (% ± 1.96 SE)",
    "lm_eval": "lm-eval average, A - B (x100)",
}


def table_lines(rows: dict[str, dict[str, dict[str, Any]]], baseline: str) -> list[str]:
    """Markdown: one row per model (recycled, then each control), each against `baseline`."""
    keys = [k for k in FIGURE_LABELS if any(k in r for r in rows.values())]
    lines = [f"| fine-tuned on, vs {baseline} | " + " | ".join(FIGURE_LABELS[k] for k in keys) + " |",
             "|---|" + "---|" * len(keys)]  # fmt: skip
    for name, row in rows.items():
        cells = [_cell(row.get(k)) for k in keys]
        lines.append(f"| {ROW_LABELS.get(name, name)} | " + " | ".join(cells) + " |")
    return lines


ROW_LABELS = {
    "recycled": "recycled (kept rows)",
    "random": "control: random subset",
    "length": "control: longest responses",
}


def _cell(figure: dict[str, Any] | None) -> str:
    if not figure or figure["value"] is None:
        return "n/a"
    return f"{figure['value']:.3f}" + (f" {_ci(figure['ci'])}" if figure["ci"] else "")


def _ci(ci: Sequence[float] | None) -> str:
    return "n/a" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
