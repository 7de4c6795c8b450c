"""Ray Data adapter of the readers: input path -> a dataset of normalized (or rejected) samples."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import ray

from recycle import columns as C
from recycle.config.data import DataConfig
from recycle.data.duplicates import KEY_COLUMNS, duplicate_losers, mark_losers
from recycle.data.normalize import SAMPLE_SCHEMA, normalize_record
from recycle.data.records import (
    RAW_PARSE_ERROR,
    RAW_SCHEMA,
    RAW_SOURCE,
    RAW_TEXT,
    iter_records,
)
from recycle.data.sources import InputFile, resolve_inputs
from recycle.errors import InputError
from recycle.rundir import LIGHT_CPUS


def _file_records(files: dict[str, Any]) -> pa.Table:
    """The raw records of a batch of input files, as one table (not one Ray row at a time)."""
    records = [
        record
        for uri, fmt in zip(files["uri"], files["format"], strict=True)
        for record in iter_records(InputFile(str(uri), str(fmt)))
    ]
    return pa.Table.from_pylist(records, schema=RAW_SCHEMA)


def _normalize_batch(batch: pa.Table) -> pa.Table:
    C.require_columns("validate", batch.column_names, (RAW_TEXT, RAW_SOURCE, RAW_PARSE_ERROR))
    texts, sources, errors = (batch[c].to_pylist() for c in (RAW_TEXT, RAW_SOURCE, RAW_PARSE_ERROR))
    rows = [normalize_record(*fields) for fields in zip(texts, sources, errors, strict=True)]
    return pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA)


@ray.remote(num_cpus=LIGHT_CPUS)
def _losers(*keys: pa.Table) -> pa.Table:
    """The duplicates of a whole input, from its blocks' key columns."""
    return duplicate_losers(pa.concat_tables(keys, promote_options="permissive"))


def _mark_batch(batch: pa.Table, losers: pa.Table | ray.ObjectRef) -> pa.Table:
    if isinstance(losers, ray.ObjectRef):
        losers = ray.get(losers)
    return mark_losers(batch, losers)


def read_raw(cfg: DataConfig) -> ray.data.Dataset:
    """One row per raw record of the input ({raw, source, order, parse_error}), one read task per file."""
    files = resolve_inputs(cfg.input, cfg.format, cfg.split)
    items = [{"uri": f.uri, "format": f.format} for f in files]
    ds = ray.data.from_items(items, override_num_blocks=len(items))  # a task per file
    ds = ds.map_batches(_file_records, batch_size=1, batch_format="numpy")
    return ds.limit(cfg.limit) if cfg.limit else ds


def mark_duplicate_rows(rows: ray.data.Dataset) -> ray.data.Dataset:
    """`rows` (normalized, materialized) with every duplicate rejected, at the cost of a hash.

    One task finds the duplicates of the whole input from three short columns of every row
    (recycle.data.duplicates); the blocks are then marked in parallel, a block without a
    duplicate passed through as it is. No shuffle, no Python call per row or per group.
    """
    losers = _losers.remote(*rows.select_columns(KEY_COLUMNS).to_arrow_refs())
    return rows.map_batches(
        _mark_batch, fn_kwargs={"losers": losers}, batch_format="pyarrow", batch_size=None
    )


def read_samples(cfg: DataConfig) -> tuple[ray.data.Dataset, int]:
    """Read and normalize an input; returns the samples (rejects included, materialized) and the
    number of raw rows read, the `input` count of every manifest.

    Each file is read and normalized in one task (every raw record becomes one row, kept or
    rejected); duplicates are marked across files and blocks afterwards.

    Raises:
        InputError: the input cannot be found or holds no rows.
    """
    # batch_size=None: a file's records normalized in the task that read them, a task per file
    rows = read_raw(cfg).map_batches(_normalize_batch, batch_format="pyarrow", batch_size=None)
    rows = rows.materialize()
    n_input = rows.count()
    if n_input == 0:
        raise InputError(
            f"input {cfg.input!r} holds no rows; check that it is the dataset you meant"
        )
    return mark_duplicate_rows(rows).materialize(), n_input
