"""AlpacaEval wiring without running it: the annotator config points at judge.model with the
package's prompt, the child's environment carries the judge's endpoint and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from recycle.config import load_config
from recycle.errors import ConfigError
from recycle.eval import alpaca

pytest.importorskip("alpaca_eval")


def _cfg(tmp_path: Path, *extra: str):
    return load_config(None, [f"output.dir={tmp_path}", "judge.model=my-judge", "judge.api_key_env=MY_JUDGE_KEY",
                              "judge.base_url=http://127.0.0.1:9/v1", "eval.alpaca_eval.version=1.0", *extra])  # fmt: skip


def test_the_annotator_is_the_package_config_with_the_judge_model(tmp_path):
    path = alpaca.annotator_config(_cfg(tmp_path), str(tmp_path))
    config = yaml.safe_load(path.read_text())
    (annotator,) = config.values()
    assert path.parent.name == "alpaca_eval_gpt4"
    assert annotator["completions_kwargs"]["model_name"] == "my-judge"
    assert annotator["fn_completion_parser"] == "ranking_parser"
    assert Path(annotator["prompt_template"]).is_file()
    with pytest.raises(ConfigError, match="not an alpaca_eval annotator"):
        alpaca.annotator_config(_cfg(tmp_path, "eval.alpaca_eval.annotator=nope"), str(tmp_path))


def test_the_child_gets_the_judge_endpoint_and_key_from_the_environment(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, "eval.alpaca_eval.version=2.0")
    monkeypatch.delenv("MY_JUDGE_KEY", raising=False)
    with pytest.raises(ConfigError, match="MY_JUDGE_KEY"):
        alpaca.judge_environment(cfg)
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_API_KEYS", "other")
    env = alpaca.judge_environment(cfg)
    assert env["OPENAI_API_KEY"] == "sk-test" and env["OPENAI_API_BASE"] == "http://127.0.0.1:9/v1"
    assert env["IS_ALPACA_EVAL_2"] == "True" and "OPENAI_API_KEYS" not in env


def test_prompts_are_the_reference_instructions_cut_to_the_limit(tmp_path):
    ref = tmp_path / "ref.json"
    ref.write_text('[{"instruction": "a", "output": "x"}, {"instruction": "b", "output": "y"}]')
    cfg = _cfg(tmp_path, f"eval.alpaca_eval.reference_outputs={ref}", "eval.alpaca_eval.limit=1")
    prompts = Path(alpaca.prompts_file(cfg.eval.alpaca_eval, str(tmp_path / "ae")))
    assert prompts.read_text() == '[{"instruction": "a", "dataset": "alpaca_eval"}]'
