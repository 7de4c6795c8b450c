import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recycle.data.records import RAW_PARSE_ERROR, RAW_TEXT, iter_records
from recycle.data.sources import InputFile, resolve_inputs
from recycle.errors import InputError

ROWS = [{"instruction": f"i{k}", "input": "", "output": f"o{k}"} for k in range(3)]


def test_missing_empty_unknown(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        resolve_inputs(str(tmp_path / "nope.json"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="is empty"):
        resolve_inputs(str(tmp_path / "empty"))
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="cannot tell the format"):
        resolve_inputs(str(tmp_path / "data.csv"))
    with pytest.raises(InputError, match="no input given"):
        resolve_inputs(None)
    with pytest.raises(InputError, match="no file matches"):
        resolve_inputs(str(tmp_path / "*.jsonl"))


def test_json_array_and_jsonl_fallback(tmp_path):
    arr = tmp_path / "a.json"
    arr.write_text(json.dumps(ROWS))
    lines = tmp_path / "b.json"  # JSON Lines under a .json name, a common case
    lines.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n")
    for f in (arr, lines):
        (file,) = resolve_inputs(str(f))
        recs = list(iter_records(file))
        assert [json.loads(r[RAW_TEXT]) for r in recs] == ROWS


def test_jsonl_bad_line_is_a_record_not_a_crash(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps(ROWS[0]) + "\n{oops\n" + json.dumps(ROWS[1]) + "\n")
    recs = list(iter_records(InputFile(str(f), "jsonl")))
    assert len(recs) == 3
    assert recs[1][RAW_TEXT] == "{oops" and "line 2" in recs[1][RAW_PARSE_ERROR]
    assert recs[0][RAW_PARSE_ERROR] == "" and recs[2]["source"].endswith(":3")


def test_parquet_and_directory_and_glob(tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    pq.write_table(pa.Table.from_pylist(ROWS[:2]), d / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist(ROWS[2:]), d / "part-1.parquet")
    files = resolve_inputs(str(d))
    assert [f.format for f in files] == ["parquet", "parquet"]
    recs = [json.loads(r[RAW_TEXT]) for f in files for r in iter_records(f)]
    assert recs == ROWS
    assert len(resolve_inputs(str(d / "*.parquet"))) == 2


def test_hf_dataset_saved_to_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(ROWS)
    ds.save_to_disk(str(tmp_path / "hf"))
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(tmp_path / "hfd"))
    files = resolve_inputs(str(tmp_path / "hf"))
    assert {f.format for f in files} == {"arrow"}
    assert [json.loads(r[RAW_TEXT]) for f in files for r in iter_records(f)] == ROWS
    test_split = resolve_inputs(str(tmp_path / "hfd"), split="test")
    assert [json.loads(r[RAW_TEXT]) for f in test_split for r in iter_records(f)] == ROWS[:1]
    with pytest.raises(InputError, match="set data.split"):
        resolve_inputs(str(tmp_path / "hfd"), split="validation")
