"""Read raw records out of one input file, keeping each one's text and position.

Every record comes out as `{raw, source, parse_error}` so that a row that cannot be parsed is still
a row: it goes to the rejects with its text instead of crashing the job or vanishing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from recycle.data.sources import InputFile
from recycle.storage import filesystem

RAW_SOURCE = "source"
RAW_TEXT = "raw"
RAW_PARSE_ERROR = "parse_error"
RAW_ORDER = "order"  # position of the record within its file, for deterministic duplicate choice
RAW_SCHEMA = pa.schema(
    [(RAW_TEXT, pa.string()), (RAW_SOURCE, pa.string()), (RAW_ORDER, pa.int64()),
     (RAW_PARSE_ERROR, pa.string())]
)  # fmt: skip


def _record(raw: str, source: str, order: int, parse_error: str = "") -> dict[str, Any]:
    return {RAW_TEXT: raw, RAW_SOURCE: source, RAW_ORDER: order, RAW_PARSE_ERROR: parse_error}


def iter_records(file: InputFile) -> Iterator[dict[str, Any]]:
    """Yield one raw record per sample in `file`, unparseable ones included."""
    fs, path = filesystem(file.uri)
    if file.format in ("json", "jsonl"):
        with fs.open_input_stream(path) as f:
            text = f.read().decode("utf-8", errors="replace")
        yield from _json_records(text, file.uri, file.format)
    elif file.format == "parquet":
        with fs.open_input_file(path) as f:
            yield from _table_records(pq.read_table(f), file.uri)
    elif file.format == "arrow":
        with fs.open_input_stream(path) as f:
            yield from _table_records(ipc.open_stream(f).read_all(), file.uri)
    else:
        raise ValueError(f"unknown input format {file.format!r} for {file.uri}")


def _json_records(text: str, uri: str, fmt: str) -> Iterator[dict[str, Any]]:
    """A JSON array file yields its elements; anything else is read as JSON Lines."""
    if fmt == "json":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None  # not one JSON document: many .json files are JSON Lines
        if isinstance(whole, list):
            for i, item in enumerate(whole):
                yield _record(json.dumps(item, ensure_ascii=False), f"{uri}:{i}", i)
            return
        if whole is not None:
            yield _record(json.dumps(whole, ensure_ascii=False), f"{uri}:0", 0)
            return
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            json.loads(line)
            yield _record(line, f"{uri}:{lineno}", lineno)
        except json.JSONDecodeError as err:
            yield _record(
                line, f"{uri}:{lineno}", lineno, f"line {lineno}: {err.msg} at column {err.colno}"
            )


def _table_records(table: pa.Table, uri: str) -> Iterator[dict[str, Any]]:
    for i, row in enumerate(table.to_pylist()):
        yield _record(json.dumps(row, ensure_ascii=False, default=str), f"{uri}:{i}", i)
