"""The final dataset as Alpaca JSON, what training tools read, next to the Parquet with every column."""

from __future__ import annotations

import json
import posixpath

from recycle import columns as C
from recycle.rundir import read_outcome
from recycle.storage import filesystem

ALPACA_JSON = "recycled_alpaca.json"


def final_records(run_dir: str) -> list[dict[str, str]]:
    """Kept rows as {instruction, input, output} of the final pair (the original in ifd_topk)."""
    table = read_outcome(run_dir, C.OUTCOME_KEPT)
    if table is None:
        return []
    rows = sorted(table.to_pylist(), key=lambda r: r[C.SAMPLE_ID])
    has_final = C.FINAL_OUTPUT in table.column_names
    cols = (
        (C.FINAL_INSTRUCTION, C.FINAL_INPUT, C.FINAL_OUTPUT)
        if has_final
        else (C.INSTRUCTION, C.INPUT, C.OUTPUT)
    )
    return [
        {
            "instruction": r[cols[0]],
            "input": r[cols[1]] or "",
            "output": r[cols[2]],
            "sample_id": r[C.SAMPLE_ID],
        }
        for r in rows
    ]


def write_alpaca_json(run_dir: str) -> str:
    """Write OUTPUT/recycled_alpaca.json; returns its URI."""
    fs, root = filesystem(run_dir)
    with fs.open_output_stream(posixpath.join(root, ALPACA_JSON)) as f:
        f.write(json.dumps(final_records(run_dir), indent=1, ensure_ascii=False).encode("utf-8"))
    return posixpath.join(run_dir.rstrip("/"), ALPACA_JSON)
