"""The papers' Table 6 row of a dataset under a student: lengths, perplexities, coherence, IFD, r-IFD.

Definitions (per sample, then the mean over the samples where the value is finite):

- instruction / response length: tokens of x and y as scored (x_tokens, y_tokens), i.e. after
  any cut to student.max_length;
- ppl(x) = exp(loss_x), ppl(y) = exp(loss_y), ppl(y|x) = exp(loss_y_given_x);
- coherence: cosine of the Sentence-BERT embeddings of x and y;
- IFD and r-IFD as in the README's How it works.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from recycle import columns as C
from recycle.config import RecycleConfig
from recycle.student.coherence import coherence, load_embedder, pair_texts
from recycle.student.score_summary import scored_dataset

# Table 6 columns: (key, header, how to get the per-sample value from the scored frame)
ROW = (
    ("instruction_tokens", "Ins. len", lambda df: df[C.X_TOKENS].where(df[C.X_TOKENS] > 0)),
    ("response_tokens", "Res. len", lambda df: df[C.Y_TOKENS].where(df[C.Y_TOKENS] > 0)),
    ("ppl_x", "ppl(x)", lambda df: np.exp(df[C.LOSS_X])),
    ("ppl_y", "ppl(y)", lambda df: np.exp(df[C.LOSS_Y])),
    ("ppl_y_given_x", "ppl(y|x)", lambda df: np.exp(df[C.LOSS_Y_GIVEN_X])),
    ("coherence", "Coherence", lambda df: df[C.COHERENCE]),
    ("ifd", "IFD", lambda df: df[C.IFD]),
    ("rifd", "r-IFD", lambda df: df[C.RIFD]),
)
SCORE_COLUMNS = (
    C.X_TOKENS,
    C.Y_TOKENS,
    C.LOSS_X,
    C.LOSS_Y,
    C.LOSS_Y_GIVEN_X,
    C.IFD,
    C.RIFD,
    C.SCORE_ERROR,
)


def _finite_mean(values: pd.Series) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else math.nan


def table6_row(df: pd.DataFrame) -> dict[str, Any]:
    """Means of the Table 6 statistics over a scored frame (one row per kept sample)."""
    row: dict[str, Any] = {"samples": len(df), "unscored": int((df[C.SCORE_ERROR] != "").sum())}
    for key, _, get in ROW:
        row[key] = _finite_mean(get(df))
    return row


def format_row(name: str, row: dict[str, Any]) -> str:
    """A markdown header and one table row, as in the paper."""
    header = "| Dataset | " + " | ".join(h for _, h, _ in ROW) + " |"
    rule = "|" + "---|" * (len(ROW) + 1)
    cells = [f"{row[k]:.1f}" if k.endswith("tokens") else f"{row[k]:.4f}" for k, _, _ in ROW]
    return "\n".join((header, rule, f"| {name} | " + " | ".join(cells) + " |"))


def scored_frame(cfg: RecycleConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Kept samples of the input with their scores and coherence, on the driver, and the counts
    of the input: rows read, kept (scored), dropped and rejected per reason."""
    ds, n_input = scored_dataset(cfg)
    cols = [C.OUTCOME, C.REASON, C.INSTRUCTION, C.INPUT, C.OUTPUT, *SCORE_COLUMNS]
    everything = ds.select_columns(cols).to_pandas()
    kept = everything[C.OUTCOME] == C.OUTCOME_KEPT
    df = everything[kept].drop(columns=[C.OUTCOME, C.REASON]).reset_index(drop=True)
    xs, ys = pair_texts(df.to_dict("list"), C.INSTRUCTION, C.INPUT, C.OUTPUT)
    df[C.COHERENCE] = coherence(load_embedder(cfg.student.coherence_model), xs, ys)
    return df, outcome_counts(everything, n_input)


def outcome_counts(frame: pd.DataFrame, n_input: int) -> dict[str, Any]:
    """Rows read, kept, and dropped / rejected per reason, of a frame with outcome and reason."""
    counts: dict[str, Any] = {
        "input": n_input,
        "kept": int((frame[C.OUTCOME] == C.OUTCOME_KEPT).sum()),
    }
    for outcome in (C.OUTCOME_DROPPED, C.OUTCOME_REJECTED):
        reasons = frame.loc[frame[C.OUTCOME] == outcome, C.REASON].value_counts()
        counts[outcome] = {str(r): int(n) for r, n in sorted(reasons.items())}
    return counts


def dataset_stats(cfg: RecycleConfig) -> dict[str, Any]:
    """Table 6 row of `cfg.data.input` under `cfg.student`, with what it was computed from.

    Raises:
        InputError: the input is empty.
    """
    t0 = time.perf_counter()
    df, counts = scored_frame(cfg)
    row = table6_row(df)
    result = {
        "dataset": cfg.data.input,
        "student": cfg.student.model,
        "template": cfg.student.template,
        **row,
        "counts": counts,
    }
    result["seconds"] = round(time.perf_counter() - t0, 3)
    return result
