"""The final dataset as Alpaca JSON, what training tools read, next to the Parquet with every column.

A conversation (issue 34) is exported as its final last exchange plus a `messages` key holding
the whole final conversation (system prompt and every turn, the chosen rewrites in place), which
`recycle train` and chat SFT tools read as a conversation; single samples keep the four keys.
"""

from __future__ import annotations

import json
import math
import posixpath
import tempfile
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from recycle import columns as C
from recycle.rundir import outcome_files, read_outcome, read_part
from recycle.storage import filesystem

ALPACA_JSON = "recycled_alpaca.json"
EXPORT_KEYS = ("instruction", "input", "output", "sample_id")
MESSAGES_KEY = "messages"  # a conversation's final turns (C.FINAL_MESSAGES), only where present


EXPORT_CHUNK_ROWS = 2048  # rows turned into Python objects at a time while writing
BUCKET_ROWS = 512  # rows per bucket of the export's sort: what the driver holds at once,
MAX_BUCKETS = 256  # unless that makes more buckets than this (spill files open at once)


def _text_columns(fs: pafs.FileSystem, files: list[str]) -> tuple[str, str, str]:
    """The final pair's text columns (the original pair's in ifd_topk, which has no final_*)."""
    has_final = C.FINAL_OUTPUT in pq.read_schema(files[0], filesystem=fs).names
    if has_final:
        return C.FINAL_INSTRUCTION, C.FINAL_INPUT, C.FINAL_OUTPUT
    return C.INSTRUCTION, C.INPUT, C.OUTPUT


def _columns(fs: pafs.FileSystem, files: list[str]) -> list[str]:
    """The columns the export reads: the final pair's texts, the sample id, and the final
    conversation when a kept file holds conversations."""
    columns = [*_text_columns(fs, files), C.SAMPLE_ID]
    if any(C.FINAL_MESSAGES in pq.read_schema(f, filesystem=fs).names for f in files):
        columns.append(C.FINAL_MESSAGES)
    return columns


def _read_columns(fs: pafs.FileSystem, path: str, columns: list[str]) -> pa.Table:
    """`columns` of a part file; one it does not have (a single sample's file has no final
    conversation) reads as nulls."""
    table = read_part(fs, path, columns, missing_ok=True)
    for name in columns:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    return table.select(columns)


def final_table(run_dir: str) -> pa.Table | None:
    """Kept rows as (instruction, input, output, sample_id) of the final pair (the original pair in
    ifd_topk), sorted by sample_id, plus `messages` when the run has conversations; only these
    columns are read. All in memory: for a notebook or a test; the export itself streams them
    (`sorted_final_batches`)."""
    fs, _ = filesystem(run_dir)
    files = outcome_files(run_dir, C.OUTCOME_KEPT)
    if not files:
        return None
    columns = _columns(fs, files)
    if C.FINAL_MESSAGES in columns:
        tables = [_read_columns(fs, f, columns) for f in files]
        table = pa.concat_tables(tables, promote_options="permissive")
    else:
        table = read_outcome(run_dir, C.OUTCOME_KEPT, columns=columns)
    return _export_columns(table.sort_by(C.SAMPLE_ID))


def _export_columns(table: pa.Table) -> pa.Table:
    names = [*EXPORT_KEYS[:3], C.SAMPLE_ID] + [MESSAGES_KEY] * (table.num_columns == 5)
    table = table.rename_columns(names)
    return table.set_column(1, EXPORT_KEYS[1], pc.fill_null(table[EXPORT_KEYS[1]], ""))


def _json_row(row: dict) -> str:
    """One exported sample; a conversation's `messages` as a list of turns, absent otherwise."""
    messages = row.pop(MESSAGES_KEY, None)
    if messages:
        row[MESSAGES_KEY] = json.loads(messages)
    return json.dumps(row, ensure_ascii=False)


def sorted_final_batches(run_dir: str) -> Iterator[pa.Table]:
    """The kept rows of `final_table`, in the same order, a bucket of rows at a time.

    What the driver holds does not grow with the texts: the sample ids are read first (a few
    dozen bytes a row) to cut the sorted order into buckets of at least BUCKET_ROWS rows
    (MAX_BUCKETS at most); each part file is then read once and its rows spilled to their
    bucket's file on local disk, and each bucket is read back, sorted and handed out in turn.
    """
    fs, _ = filesystem(run_dir)
    files = outcome_files(run_dir, C.OUTCOME_KEPT)
    if not files:
        return
    columns = _columns(fs, files)
    bounds = _bucket_bounds(fs, files)
    if not bounds.size:  # one bucket: every kept row fits in one
        yield final_table(run_dir)
        return
    with tempfile.TemporaryDirectory(prefix="recycle-export-") as tmp:
        writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        schema = pa.schema([(c, pa.string()) for c in columns])
        for path in files:
            table = _read_columns(fs, path, columns).cast(schema)
            ids = table[C.SAMPLE_ID].to_numpy(zero_copy_only=False)
            bucket = np.searchsorted(bounds, ids, side="right")  # (rows,)
            for b in np.unique(bucket):
                if b not in writers:
                    sink = pa.OSFile(posixpath.join(tmp, f"{b}.arrows"), "wb")
                    writers[b] = pa.ipc.new_stream(sink, schema)
                writers[b].write_table(table.filter(pa.array(bucket == b)))
        for writer in writers.values():
            writer.close()
        for b in sorted(writers):
            with pa.OSFile(posixpath.join(tmp, f"{b}.arrows"), "rb") as source:
                part = pa.ipc.open_stream(source).read_all()
            yield _export_columns(part.sort_by(C.SAMPLE_ID))


def _bucket_bounds(fs: pafs.FileSystem, files: list[str]) -> np.ndarray:
    """The first sample id of each bucket after the first, in sorted order (empty: one bucket)."""
    ids = pa.concat_arrays(
        [
            read_part(fs, f, [C.SAMPLE_ID])[C.SAMPLE_ID].combine_chunks().cast(pa.string())
            for f in files
        ]
    )
    rows = max(BUCKET_ROWS, math.ceil(len(ids) / MAX_BUCKETS))
    firsts = pc.sort_indices(ids)[rows::rows]
    return ids.take(firsts).to_numpy(zero_copy_only=False)


def write_alpaca_json(run_dir: str) -> str:
    """Write OUTPUT/recycled_alpaca.json, a JSON array in sample_id order, written a chunk of rows
    at a time from `sorted_final_batches`; returns its URI."""
    fs, root = filesystem(run_dir)
    first = True
    with fs.open_output_stream(posixpath.join(root, ALPACA_JSON)) as f:
        f.write(b"[\n")
        for block in sorted_final_batches(run_dir):
            for start in range(0, block.num_rows, EXPORT_CHUNK_ROWS):
                chunk = block.slice(start, EXPORT_CHUNK_ROWS).to_pylist()
                body = ",\n".join(_json_row(r) for r in chunk)
                f.write((b"" if first else b",\n") + body.encode("utf-8"))
                first = first and not chunk
        f.write(b"\n]\n")
    return posixpath.join(run_dir.rstrip("/"), ALPACA_JSON)
