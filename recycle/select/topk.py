"""IFD top-k selection (Cherry LLM): no teacher; drop IFD >= 1, keep the top k% or top N by IFD.

A global choice: it needs every score, so it runs on the whole scored table, not per batch.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from recycle import columns as C
from recycle.config.selection import SelectionConfig
from recycle.select.modes import IFD_NOT_BELOW_ONE, UNSCORED, drop

BELOW_TOPK = "below_topk"


def topk_count(n_candidates: int, cfg: SelectionConfig) -> int:
    """How many to keep: top N, or ceil(k% of all candidate rows, before the IFD filter)."""
    if cfg.topk_n is not None:
        return cfg.topk_n
    if cfg.topk_percent is not None:
        return math.ceil(n_candidates * cfg.topk_percent / 100.0)
    return n_candidates


def select_ifd_topk(df: pd.DataFrame, cfg: SelectionConfig, ifd_col: str = C.IFD) -> pd.DataFrame:
    """Mark rows kept or dropped (unscored / IFD >= 1 / below the top k), ties by sample_id."""
    C.require_columns("select", df.columns, (ifd_col, C.SAMPLE_ID, C.OUTCOME))
    df = df.copy()
    live = C.kept_mask(df[C.OUTCOME])
    ifd = df[ifd_col].astype(float).to_numpy()
    k = topk_count(int(live.sum()), cfg)
    drop(df, np.isnan(ifd), UNSCORED, "the student could not score this sample (see score_error)")
    if cfg.require_ifd_below_one:
        drop(
            df, ifd >= 1.0, IFD_NOT_BELOW_ONE, "IFD >= 1: the instruction does not help the student"
        )
    order = df[C.kept_mask(df[C.OUTCOME])].sort_values(
        [ifd_col, C.SAMPLE_ID], ascending=[False, True]
    )
    below = np.zeros(len(df), dtype=bool)
    below[df.index.get_indexer(order.index[k:])] = True
    drop(df, below, BELOW_TOPK, f"not among the top {k} by IFD")
    return df
