"""Ray Data adapters of the two halves of the selection (recycle.select.modes.select_reflected
composes them; the stream reflects and scores the response in between): pandas batch in, pandas
batch out, row count unchanged."""

from __future__ import annotations

from typing import Any

import pandas as pd

from recycle import columns as C
from recycle.config.load import as_config
from recycle.config.selection import SelectionConfig
from recycle.select.declarations import mode_spec
from recycle.select.modes import select_instruction, select_response


def choose_instruction_batch(batch: pd.DataFrame, selection: dict[str, Any]) -> pd.DataFrame:
    """Step 2 on one batch: pick (x1, y1) between the original and the reflected instruction."""
    cfg = as_config(SelectionConfig, selection)
    status = (C.REFLECT_INSTRUCTION_STATUS,) if mode_spec(cfg.mode).reflect_instruction else ()
    C.require_columns("choose_instruction", batch.columns, (C.OUTCOME, *status))
    return select_instruction(batch, cfg)


def choose_response_batch(batch: pd.DataFrame, selection: dict[str, Any]) -> pd.DataFrame:
    """Step 4 and the filter on one batch: pick y2, then keep or drop the sample with a reason."""
    cfg = as_config(SelectionConfig, selection)
    spec = mode_spec(cfg.mode)
    status = (C.REFLECT_RESPONSE_STATUS,) if spec.reflect_response else ()
    C.require_columns("choose_response", batch.columns, (C.OUTCOME, C.OUTPUT_1, *status))
    return select_response(batch, cfg)
