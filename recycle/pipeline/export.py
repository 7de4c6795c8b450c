"""The final dataset as Alpaca JSON, what training tools read, next to the Parquet with every column."""

from __future__ import annotations

import json
import posixpath

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recycle import columns as C
from recycle.rundir import outcome_files, read_outcome
from recycle.storage import filesystem

ALPACA_JSON = "recycled_alpaca.json"
EXPORT_KEYS = ("instruction", "input", "output", "sample_id")


EXPORT_CHUNK_ROWS = 2048  # rows turned into Python objects at a time while writing


def final_table(run_dir: str) -> pa.Table | None:
    """Kept rows as (instruction, input, output, sample_id) of the final pair (the original pair in
    ifd_topk), sorted by sample_id; only these four columns are read."""
    fs, _ = filesystem(run_dir)
    files = outcome_files(run_dir, C.OUTCOME_KEPT)
    if not files:
        return None
    has_final = C.FINAL_OUTPUT in pq.read_schema(files[0], filesystem=fs).names
    texts = (
        (C.FINAL_INSTRUCTION, C.FINAL_INPUT, C.FINAL_OUTPUT)
        if has_final
        else (C.INSTRUCTION, C.INPUT, C.OUTPUT)
    )
    table = read_outcome(run_dir, C.OUTCOME_KEPT, columns=[*texts, C.SAMPLE_ID])
    table = table.rename_columns([*EXPORT_KEYS[:3], C.SAMPLE_ID]).sort_by(C.SAMPLE_ID)
    inputs = pc.fill_null(table[EXPORT_KEYS[1]], "")
    return table.set_column(1, EXPORT_KEYS[1], inputs)


def write_alpaca_json(run_dir: str) -> str:
    """Write OUTPUT/recycled_alpaca.json, a JSON array written a chunk of rows at a time; returns
    its URI."""
    fs, root = filesystem(run_dir)
    table = final_table(run_dir)
    with fs.open_output_stream(posixpath.join(root, ALPACA_JSON)) as f:
        f.write(b"[\n")
        for start in range(0, table.num_rows if table is not None else 0, EXPORT_CHUNK_ROWS):
            chunk = table.slice(start, EXPORT_CHUNK_ROWS).to_pylist()
            body = ",\n".join(json.dumps(r, ensure_ascii=False) for r in chunk)
            f.write((",\n" if start else "").encode() + body.encode("utf-8"))
        f.write(b"\n]\n")
    return posixpath.join(run_dir.rstrip("/"), ALPACA_JSON)
