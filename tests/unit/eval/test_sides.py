"""`recycle eval` wiring that needs no Ray: config checks before anything runs, the baseline run."""

from __future__ import annotations

import pytest

from recycle.commands.eval import run_eval
from recycle.config import load_config
from recycle.errors import ConfigError
from recycle.eval.sides import baseline_config, generator_names


def test_a_side_without_model_or_answers_fails_before_anything_runs(tmp_path):
    cfg = load_config(None, [f"output.dir={tmp_path}", "eval.model_a=/m/a"])
    with pytest.raises(ConfigError, match="eval.model_b or eval.answers_b must be set"):
        run_eval(cfg, preflight=False)  # the config check itself, not the judge endpoint
    assert not any(tmp_path.iterdir())


def test_generator_names_tell_equal_folders_apart():
    cfg = load_config(None, ["eval.model_a=/runs/x/model", "eval.model_b=/runs/y/model"])
    assert generator_names(cfg) == {"a": "model (A)", "b": "model (B)"}
    cfg = load_config(None, ["eval.model_a=/runs/x/model", "eval.model_b=/models/llama/"])
    assert generator_names(cfg) == {"a": "model", "b": "llama"}


def test_the_original_baseline_is_the_same_recipe_on_the_original_data():
    cfg = load_config(None, ["data.input=/data/alpaca.json", "output.dir=/runs/r", "train.lr=3e-5"])
    base = baseline_config(cfg)
    assert base.train.dataset == "/data/alpaca.json" and base.train.lr == cfg.train.lr
    assert base.output.dir == "/runs/r/baseline_original"
    assert base.train.name == f"{cfg.train.name}-original" and cfg.output.dir == "/runs/r"
