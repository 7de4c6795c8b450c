"""AlpacaEval offline and aligned, the pure parts: what pre-flight asks of eval.alpaca_eval.files,
answers matched to prompts by instruction, annotations labelled with their rows, df_gamed put in
index order. The package's 2.0 path itself: tests/integration/eval/test_alpaca_eval_2_offline.py."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recycle.config import load_config
from recycle.errors import InputError
from recycle.eval import alpaca, alpaca_files
from recycle.eval.alpaca_runner import gamed_by_index, labelled
from tests.support.alpaca_files import (
    ROWS,
    gamed,
    write_files,
)

pytest.importorskip("alpaca_eval")


def _cfg(tmp_path: Path, *extra: str):
    return load_config(None, [f"output.dir={tmp_path}", "judge.model=local-judge",
                              "judge.api_key_env=MY_JUDGE_KEY", "eval.alpaca_eval.version=2.0",
                              *extra])  # fmt: skip


def test_files_needed_offline_by_version(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    files = write_files(tmp_path / "files")
    v2 = _cfg(tmp_path).eval.alpaca_eval
    assert alpaca_files.needed_files(v2) == ["df_gamed.csv", "alpaca_eval_gpt4_baseline.json"]
    problem = alpaca_files.files_problem(v2)
    assert (
        "HF_HUB_OFFLINE is set" in problem
        and "huggingface-cli download tatsu-lab/alpaca_eval" in problem
    )
    assert (
        alpaca_files.files_problem(
            _cfg(tmp_path, f"eval.alpaca_eval.files={files}").eval.alpaca_eval
        )
        is None
    )
    v1 = _cfg(tmp_path, "eval.alpaca_eval.version=1.0").eval.alpaca_eval
    assert "alpaca_eval.json" in alpaca_files.files_problem(v1)
    v1_local = _cfg(
        tmp_path,
        "eval.alpaca_eval.version=1.0",
        f"eval.alpaca_eval.reference_outputs={files}/x.json",
    )
    assert alpaca_files.files_problem(v1_local.eval.alpaca_eval) is None  # nothing to download
    (files / "df_gamed.csv").write_text("model,index\nx,0\n")
    bad = alpaca_files.files_problem(
        _cfg(tmp_path, f"eval.alpaca_eval.files={files}").eval.alpaca_eval
    )
    assert "lacks the column(s) ['instruction_difficulty']" in bad
    (files / "df_gamed.csv").unlink()
    missing = alpaca_files.files_problem(
        _cfg(tmp_path, f"eval.alpaca_eval.files={files}").eval.alpaca_eval
    )
    assert missing.startswith(f"eval.alpaca_eval.files={files} lacks df_gamed.csv ")  # fmt: skip


def test_answers_are_matched_to_prompts_by_instruction(tmp_path):
    prompts = tmp_path / "prompts.json"
    asked = ["b", "a", "long", "b", "c"]
    prompts.write_text(json.dumps([{"instruction": i} for i in asked]))
    generated = tmp_path / "model_outputs.json"  # set order differs; "long" was not answered
    generated.write_text(json.dumps([{"instruction": i, "output": o} for i, o in
                                     [("a", "A1"), ("b", "B1"), ("c", ""), ("b", "B2")]]))  # fmt: skip
    path, empty = alpaca.package_answers(str(prompts), str(generated), "m")
    rows = json.loads(Path(path).read_text())
    assert [(r["instruction"], r["output"]) for r in rows] == [
        ("b", "B1"), ("a", "A1"), ("long", ""), ("b", "B2"), ("c", "")]  # fmt: skip
    assert empty == 1 and {r["generator"] for r in rows} == {
        "m"
    }  # "c" answered with "": not filled


def test_rows_by_instruction_label_annotations_and_unknown_prompts_refuse_2_0(tmp_path):
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps([{"instruction": i, "output": ""} for i in ["x", "y", "x", "z"]]))
    rows = alpaca.rows_by_instruction(ref)
    assert rows == {"x": [0, 2], "y": [1], "z": [3]}
    frame = labelled([{"instruction": i} for i in ["z", "x", "x", "y"]], rows)
    assert frame.index.tolist() == [3, 0, 2, 1]
    with pytest.raises(KeyError, match="no AlpacaEval row"):
        labelled([{"instruction": "x"}] * 3, rows)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"instruction": "y"}, {"instruction": "w"}]))
    with pytest.raises(
        InputError, match=r"1 prompt\(s\) are not among AlpacaEval's 805 \(first: 'w'\)"
    ):
        alpaca.check_known_prompts(str(prompts), rows)


def test_gamed_rows_are_put_in_index_order(tmp_path):
    shuffled = tmp_path / "in.csv"
    gamed().sample(frac=1.0, random_state=3).to_csv(shuffled, index=False)
    out = pd.read_csv(gamed_by_index(shuffled, tmp_path / "out.csv"))
    first = out.drop_duplicates("index")
    assert first.index.tolist() == first["index"].tolist() == list(range(ROWS))
    assert len(out) == 2 * ROWS
    expected = gamed().set_index(["model", "index"]).sort_index()
    pd.testing.assert_frame_equal(out.set_index(["model", "index"]).sort_index(), expected)
