"""`eval.baseline: original` end to end: the same recipe fine-tuned on the original data in the same
job (OUTPUT/baseline_original), then judged against model A on a test set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recycle.commands.eval import evaluate_finetuned
from recycle.rundir import read_manifest
from recycle.testing.local_server import LocalTeacherServer
from tests.support import tiny_model
from tests.support.train_support import tiny_train_config

pytestmark = pytest.mark.integration


def test_the_original_baseline_is_trained_then_judged(ray_local, tiny_model_dir, tmp_path):
    data = tmp_path / "alpaca.json"
    data.write_text(json.dumps(tiny_model.alpaca_rows(16)))
    out = tmp_path / "run"
    with LocalTeacherServer(model="local-judge") as judge:
        cfg = tiny_train_config(
            tiny_model_dir, data, out, "train.name=baseline-test", "eval.baseline=original",
            "eval.sets=[vicuna]", "eval.limit_per_set=3", "eval.max_new_tokens=4",
            f"judge.base_url={judge.base_url}", "judge.model=local-judge", "judge.num_actors=1",
            "judge.api_key_env=RECYCLE_TEST_JUDGE_KEY",
        )  # fmt: skip
        manifest = evaluate_finetuned(cfg, str(tiny_model_dir))
    baseline = out / "baseline_original"
    train = read_manifest(str(baseline / "train"))
    assert train["invariant"]["ok"] and train["counts"]["input"] == 16
    assert train["config"]["train"]["dataset"] == str(data)
    model_b = train["outputs"]["model"]
    assert Path(model_b, "config.json").is_file()
    assert manifest["pairwise"]["ran"]["models"] == {"a": str(tiny_model_dir), "b": model_b}
    assert manifest["invariant"]["ok"] and manifest["verdict"]["n"] == 3
    answers_b = json.loads((out / "eval" / "answers_b" / "model_outputs.json").read_text())
    assert len(answers_b) == 3 and {r["generator"] for r in answers_b} == {Path(model_b).name}
    assert read_manifest(str(out / "eval"))["verdict"] == manifest["verdict"]
