"""Ray Data adapter of the readers: input path -> a dataset of normalized (or rejected) samples."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import ray

from recycle import columns as C
from recycle.config.data import DataConfig
from recycle.data.normalize import mark_duplicates, normalize_record
from recycle.data.records import RAW_PARSE_ERROR, RAW_SOURCE, RAW_TEXT, iter_records
from recycle.data.sources import InputFile, resolve_inputs
from recycle.errors import InputError


def _file_records(row: dict[str, Any]) -> list[dict[str, Any]]:
    return list(iter_records(InputFile(row["uri"], row["format"])))


def _normalize_batch(batch: pd.DataFrame) -> pd.DataFrame:
    C.require_columns("validate", batch.columns, (RAW_TEXT, RAW_SOURCE, RAW_PARSE_ERROR))
    rows = [
        normalize_record(raw, src, err)
        for raw, src, err in zip(
            batch[RAW_TEXT], batch[RAW_SOURCE], batch[RAW_PARSE_ERROR], strict=True
        )
    ]
    return pd.DataFrame(rows)


def _dedup_group(group: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(mark_duplicates(group.to_dict("records")))


def _normalize_dedup_batch(batch: pd.DataFrame) -> pd.DataFrame:
    """Normalize a batch holding every row of the input and mark duplicates among all of them."""
    rows = _normalize_batch(batch).to_dict("records")
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[C.SAMPLE_ID], []).append(row)
    for group in groups.values():
        if len(group) > 1:
            mark_duplicates(group)  # marks in place: `rows` holds the same dicts
    return pd.DataFrame(rows)


def read_raw(cfg: DataConfig) -> ray.data.Dataset:
    """One row per raw record of the input ({raw, source, order, parse_error}), one read task per file."""
    files = resolve_inputs(cfg.input, cfg.format, cfg.split)
    ds = ray.data.from_items([{"uri": f.uri, "format": f.format} for f in files])
    ds = ds.flat_map(_file_records)
    return ds.limit(cfg.limit) if cfg.limit else ds


ROWS_PER_SHUFFLE_PARTITION = 5000
ONE_TASK_ROWS = 20_000  # inputs up to this size are deduplicated in one task, without a shuffle
MAX_SHUFFLE_PARTITIONS = 200


def shuffle_partitions(n_rows: int) -> int:
    """Partitions of the duplicate-finding shuffle: a few thousand rows each, at most 200."""
    return max(1, min(MAX_SHUFFLE_PARTITIONS, math.ceil(n_rows / ROWS_PER_SHUFFLE_PARTITION)))


def normalize(raw: ray.data.Dataset, block_rows: int = 256) -> ray.data.Dataset:
    """Normalize raw records and mark duplicates; every input row comes out once, kept or rejected.

    `raw` should be materialized (its row count sizes the shuffle that finds duplicates). A small
    input is normalized and deduplicated in one task (one batch holds every row); a larger one is
    normalized in parallel and its duplicates found by a hash shuffle on sample_id.
    """
    n_rows = raw.count()
    if n_rows <= ONE_TASK_ROWS:
        one = raw.repartition(1)
        return one.map_batches(_normalize_dedup_batch, batch_format="pandas", batch_size=None)
    ds = raw.map_batches(_normalize_batch, batch_format="pandas", batch_size=block_rows)
    grouped = ds.groupby(C.SAMPLE_ID, num_partitions=shuffle_partitions(n_rows))
    return grouped.map_groups(_dedup_group, batch_format="pandas")


def read_samples(cfg: DataConfig, block_rows: int = 256) -> tuple[ray.data.Dataset, int]:
    """Read and normalize an input; returns the samples (rejects included, materialized) and the
    number of raw rows read, the `input` count of every manifest.

    Raises:
        InputError: the input cannot be found or holds no rows.
    """
    raw = read_raw(cfg).materialize()
    n_input = raw.count()
    if n_input == 0:
        raise InputError(
            f"input {cfg.input!r} holds no rows; check that it is the dataset you meant"
        )
    return normalize(raw, block_rows).materialize(), n_input
