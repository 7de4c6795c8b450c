"""The Alpaca export: in sample_id order, whatever the part files, without holding every text."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest

from recycle import columns as C
from recycle.pipeline import export
from recycle.rundir import write_outcome_batch


def write_run(run_dir, n_rows: int, files: int) -> list[str]:
    """`n_rows` rows over `files` part files (kept, and a few dropped); returns the kept ids."""
    rng = random.Random(0)
    ids = [f"{rng.getrandbits(80):020x}" for _ in range(n_rows)]
    kept = []
    for f in range(files):
        part = ids[f::files]
        outcome = [C.OUTCOME_DROPPED if i % 7 == 0 else C.OUTCOME_KEPT for i in range(len(part))]
        kept += [s for s, o in zip(part, outcome, strict=True) if o == C.OUTCOME_KEPT]
        batch = pa.table(
            {
                C.SAMPLE_ID: part,
                C.OUTCOME: outcome,
                C.REASON: [None if o == C.OUTCOME_KEPT else "ifd_not_below_one" for o in outcome],
                C.FINAL_INSTRUCTION: [f"do {s}" for s in part],
                C.FINAL_INPUT: [None if i % 3 else f"in {s}" for i, s in enumerate(part)],
                C.FINAL_OUTPUT: [f"done {s} " * 3 for s in part],
            }
        )
        write_outcome_batch(batch, str(run_dir))
    return kept


@pytest.mark.parametrize("bucket_rows", [4, 16, 10_000])
def test_the_export_is_in_sample_id_order_in_buckets_of_bounded_size(
    tmp_path, monkeypatch, bucket_rows
):
    kept = write_run(tmp_path, 300, files=9)
    monkeypatch.setattr(export, "BUCKET_ROWS", bucket_rows)
    monkeypatch.setattr(export, "EXPORT_CHUNK_ROWS", 5)
    batches = list(export.sorted_final_batches(str(tmp_path)))
    if bucket_rows < len(kept):  # buckets cut at the sorted ids' quantiles: exactly bucket_rows
        assert [b.num_rows for b in batches[:-1]] == [bucket_rows] * (len(batches) - 1)
        assert 0 < batches[-1].num_rows <= bucket_rows
    else:
        assert len(batches) == 1
    streamed = pa.concat_tables(batches)
    assert streamed.equals(export.final_table(str(tmp_path)))
    assert streamed[C.SAMPLE_ID].to_pylist() == sorted(kept)

    uri = export.write_alpaca_json(str(tmp_path))
    rows = json.loads((tmp_path / export.ALPACA_JSON).read_text())
    assert uri.endswith(export.ALPACA_JSON)
    assert [r["sample_id"] for r in rows] == sorted(kept)
    assert rows[0] == streamed.slice(0, 1).to_pylist()[0] and all(
        r["input"] is not None for r in rows
    )


def test_an_export_of_no_kept_row_is_an_empty_array(tmp_path):
    export.write_alpaca_json(str(tmp_path))
    assert json.loads((tmp_path / export.ALPACA_JSON).read_text()) == []
