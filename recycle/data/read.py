"""Ray Data adapter of the readers: input path -> a dataset of normalized (or rejected) samples."""

from __future__ import annotations

from typing import Any

import pandas as pd
import ray

from recycle import columns as C
from recycle.config.data import DataConfig
from recycle.data.normalize import mark_duplicates, normalize_record
from recycle.data.records import RAW_PARSE_ERROR, RAW_SOURCE, RAW_TEXT, iter_records
from recycle.data.sources import InputFile, resolve_inputs


def _file_records(row: dict[str, Any]) -> list[dict[str, Any]]:
    return list(iter_records(InputFile(row["uri"], row["format"])))


def _normalize_batch(batch: pd.DataFrame) -> pd.DataFrame:
    C.require_columns("validate", batch.columns, (RAW_TEXT, RAW_SOURCE, RAW_PARSE_ERROR))
    rows = [
        normalize_record(raw, src, err)
        for raw, src, err in zip(batch[RAW_TEXT], batch[RAW_SOURCE], batch[RAW_PARSE_ERROR], strict=True)
    ]
    return pd.DataFrame(rows)


def _dedup_group(group: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(mark_duplicates(group.to_dict("records")))


def read_raw(cfg: DataConfig) -> ray.data.Dataset:
    """One row per raw record of the input ({raw, source, order, parse_error}), one read task per file."""
    files = resolve_inputs(cfg.input, cfg.format, cfg.split)
    ds = ray.data.from_items([{"uri": f.uri, "format": f.format} for f in files])
    ds = ds.flat_map(_file_records)
    return ds.limit(cfg.limit) if cfg.limit else ds


def normalize(raw: ray.data.Dataset, block_rows: int = 256) -> ray.data.Dataset:
    """Normalize raw records and mark duplicates; every input row comes out once, kept or rejected."""
    ds = raw.map_batches(_normalize_batch, batch_format="pandas", batch_size=block_rows)
    return ds.groupby(C.SAMPLE_ID).map_groups(_dedup_group, batch_format="pandas")
