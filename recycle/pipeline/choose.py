"""Ray Data adapters of the selection steps: pandas batch in, pandas batch out, row count unchanged."""

from __future__ import annotations

from typing import Any

import pandas as pd

from recycle import columns as C
from recycle.config.selection import SelectionConfig
from recycle.select.modes import (
    choose_instruction,
    choose_response,
    final_filter,
    live,
    step2_win,
    step4_win,
)


def _cfg(selection: SelectionConfig | dict[str, Any]) -> SelectionConfig:
    return (
        selection
        if isinstance(selection, SelectionConfig)
        else SelectionConfig.model_validate(selection)
    )


def choose_instruction_batch(batch: pd.DataFrame, selection: dict[str, Any]) -> pd.DataFrame:
    """Step 2 on one batch: pick (x1, y1) between the original and the reflected instruction."""
    cfg = _cfg(selection)
    C.require_columns(
        "choose_instruction", batch.columns, (C.OUTCOME, C.REFLECT_INSTRUCTION_STATUS)
    )
    return choose_instruction(batch, step2_win(batch, cfg) & live(batch))


def choose_response_batch(batch: pd.DataFrame, selection: dict[str, Any]) -> pd.DataFrame:
    """Step 4 and the filter on one batch: pick y2, then keep or drop the sample with a reason."""
    cfg = _cfg(selection)
    C.require_columns(
        "choose_response", batch.columns, (C.OUTCOME, C.REFLECT_RESPONSE_STATUS, C.OUTPUT_1)
    )
    out = choose_response(batch, step4_win(batch, cfg) & live(batch))
    return out if cfg.mode == "recycle" else final_filter(out, cfg)
