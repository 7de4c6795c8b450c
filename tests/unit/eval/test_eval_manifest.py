"""`recycle eval`'s manifest through the runner's close: a benchmark whose questions do not add up
is refused; one that adds up is written with what ran and the verdict last."""

from __future__ import annotations

import pytest

from recycle.commands import benchmarks as B
from recycle.commands import eval as EV
from recycle.commands import runner
from recycle.commands.eval_steps import section
from recycle.config import load_config
from recycle.errors import ConfigError, InputError
from recycle.rundir import read_manifest


def _fake(answered: int, unanswered: dict[str, int]) -> B.Benchmark:
    def run(cfg, sides, out_dir):
        ran = {"models": dict(sides.models)}
        return {**section(ran, 10, answered, unanswered), "verdict": {"x": 1}, "outputs": {}}

    return B.Benchmark("fake", "fake", lambda cfg: True, lambda cfg: None, run, lambda v, n: [])


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setattr(
        runner, "init_ray", lambda cfg: None
    )  # no Ray: the fake benchmark needs none
    return load_config(None, [f"output.dir={tmp_path}", "eval.model_a=/m/a", "eval.model_b=/m/b"])


def test_questions_lost_are_refused_by_the_runner(cfg, monkeypatch):
    monkeypatch.setattr(EV, "wanted", lambda cfg: [_fake(7, {"prompt_too_long": 2})])
    with pytest.raises(InputError, match="questions were lost"):
        EV.run_eval(cfg, preflight=False)  # the fake benchmark asks no judge
    m = read_manifest(cfg.output.dir)
    assert not m["invariant"]["ok"] and m["fake"]["invariant"] == {
        "ok": False, "input": 10, "accounted": 9,
    }  # fmt: skip


def test_a_manifest_that_adds_up_says_what_ran(cfg, monkeypatch):
    monkeypatch.setattr(EV, "wanted", lambda cfg: [_fake(7, {"prompt_too_long": 3})])
    m = EV.run_eval(cfg, preflight=False)
    assert m["counts"] == {
        "input": 10,
        "kept": 7,
        "dropped": {},
        "rejected": {"fake/prompt_too_long": 3},
    }
    assert m["fake"]["ran"]["models"] == {"a": "/m/a", "b": "/m/b"} and list(m)[-1] == "verdict"
    assert m["verdict"] == {"fake": {"x": 1}} and m["outputs"] == {"report": "report.md"}


def test_no_benchmark_asked_for_is_a_config_error(tmp_path):
    cfg = load_config(
        None, [f"output.dir={tmp_path}", "eval.sets=[]", "eval.model_a=/a", "eval.model_b=/b"]
    )
    with pytest.raises(ConfigError, match="no benchmark"):
        EV.run_eval(cfg, preflight=False)  # the config check, not the model folders


def test_lm_eval_needs_model_folders(tmp_path):
    cfg = load_config(None, [f"output.dir={tmp_path}", "eval.sets=[]", "eval.benchmarks=[open_llm_v1]",
                             "eval.model_a=/a", "eval.answers_b=/b.json"])  # fmt: skip
    with pytest.raises(ConfigError, match="eval.model_b must be set"):
        EV.run_eval(cfg, preflight=False)  # the config check, not the model folders
