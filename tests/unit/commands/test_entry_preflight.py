"""Pre-flight runs wherever a command starts: each library entry point and each job, given a bad
config, stops with the declared check's message before Ray starts (its start raises here).
The command line is covered by tests/unit/test_preflight.py."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from recycle.commands import runner
from recycle.config import load_config
from recycle.errors import RecycleError

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    def refuse(cfg):
        raise AssertionError("Ray started before the pre-flight refused the config")

    monkeypatch.setattr(runner, "init_ray", refuse)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def entry_points(tmp: Path):
    """(id, the entry point called with a bad config, the words its refusal must hold)."""
    from recycle.commands.generate import run_generate
    from recycle.commands.judge import run_judge
    from recycle.commands.pipeline import run_pipeline
    from recycle.commands.reflect import run_reflect
    from recycle.commands.score import run_score
    from recycle.commands.select import run_select
    from recycle.commands.stats import run_stats
    from recycle.commands.train import run_finetune
    from recycle.commands.validate import run_validate

    def cfg(*overrides):
        return load_config(None, [f"output.dir='{tmp / 'out'}'", *overrides])

    missing_input = f"data.input='{tmp / 'nope.json'}'"
    (tmp / "blocker").write_text("a file where a folder should be")
    no_student = f"student.model='{tmp / 'no_student'}'"
    return [
        ("validate", lambda: run_validate(cfg(missing_input)), "does not exist"),
        ("score", lambda: run_score(cfg(missing_input)), "does not exist"),
        ("reflect", lambda: run_reflect(cfg(missing_input), "instruction"), "does not exist"),
        ("select", lambda: run_select(cfg(f"output.dir='{tmp / 'blocker' / 'x'}'")), "is a file"),
        (
            "run",
            lambda: run_pipeline(
                cfg(f"data.input='{REPO / 'recycle/demo/alpaca_sample.json'}'", no_student)
            ),
            "does not exist",
        ),  # fmt: skip
        ("stats", lambda: run_stats(cfg(missing_input)), "does not exist"),
        ("train", lambda: run_finetune(cfg(no_student)), "does not exist"),
        (
            "judge",
            lambda: run_judge(cfg(f"judge.base_url={closed_port_url()}"), "a", "b", str(tmp / "j")),
            "does not answer",
        ),  # fmt: skip
        (
            "generate",
            lambda: run_generate(cfg(), str(tmp / "no_model"), str(tmp / "g")),
            "does not exist",
        ),  # fmt: skip
    ]


IDS = ["validate", "score", "reflect", "select", "run", "stats", "train", "judge", "generate"]


@pytest.mark.parametrize("index", range(len(IDS)), ids=IDS)
def test_each_library_entry_point_refuses_a_bad_config_before_ray(tmp_path, index):
    _, call, words = entry_points(tmp_path)[index]
    with pytest.raises(RecycleError, match=words):
        call()


def job(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_jobs_refuse_a_bad_config_before_ray(tmp_path, capsys):
    finetune = REPO / "jobs" / "configs" / "llama2_7b_finetune.yaml"
    assert job("finetune").main([str(finetune), f"student.model='{tmp_path / 'none'}'"]) == 2
    assert "student.model" in capsys.readouterr().err
    bad_input = [f"data.input='{tmp_path / 'nope.json'}'", f"output.dir='{tmp_path / 'o'}'"]
    assert job("recycle_data").main(bad_input) == 2
    assert "nope.json' does not exist" in capsys.readouterr().err


def test_a_check_runs_once_per_config_and_never_when_disabled():
    from recycle.preflight import Preflight

    ran = []

    def check(cfg):
        ran.append(cfg.output.dir)

    a, b = load_config(None, ["output.dir=a"]), load_config(None, ["output.dir=b"])
    policy = Preflight().run(a, (check, check))
    policy = policy.run(load_config(None, ["output.dir=a"]), (check,))  # an equal config: done
    policy.run(b, (check,))  # another config (a nested run's): checked
    assert ran == ["a", "b"]
    assert Preflight.of(False).run(a, (check,)).done == () and ran == ["a", "b"]
    assert Preflight.of(policy) is policy and Preflight.of(True) == Preflight()


def test_a_nested_run_inherits_no_preflight(tmp_path, monkeypatch):
    """end-to-end's training and evaluation, and the evaluation's generations: --no-preflight
    reaches them (the policy each receives is the entry's, disabled)."""
    from recycle.commands import flow
    from recycle.commands.flow import run_end_to_end

    seen = {}
    manifest = {"counts": {"input": 1, "kept": 1, "dropped": {}, "rejected": {}}}

    def pipeline(cfg, preflight=True):
        seen["pipeline"] = preflight
        return manifest

    def finetune(cfg, preflight=True):
        seen["train"] = preflight
        return SimpleNamespace(model_dir=str(tmp_path / "m"))

    def evaluate(cfg, model_dir, preflight=True):
        seen["eval"] = preflight
        return {"verdict": {}}

    monkeypatch.setattr("recycle.commands.pipeline.run_pipeline", pipeline)
    monkeypatch.setattr("recycle.commands.train.run_finetune", finetune)
    monkeypatch.setattr("recycle.commands.eval.evaluate_finetuned", evaluate)
    monkeypatch.setattr(flow, "record_training", lambda run_dir, result: manifest)
    monkeypatch.setattr(flow, "record_evaluation", lambda run_dir, evaluation: manifest)
    cfg = load_config(None, [f"output.dir='{tmp_path}'", "eval.baseline=original"])
    run_end_to_end(cfg, preflight=False)
    assert {k: p.enabled for k, p in seen.items()} == {"pipeline": False, "train": False,
                                                        "eval": False}  # fmt: skip


def test_the_judge_checks_its_key_at_start_up_with_pre_flight_off(tmp_path, monkeypatch):
    """One API-key check (recycle.preflight.check_key): pre-flight's, and the judge's start-up."""
    from recycle.commands.judge import run_judge

    cfg = load_config(None, ["judge.api_key_env=RECYCLE_NO_SUCH_KEY"])  # the judge: OpenAI
    monkeypatch.delenv("RECYCLE_NO_SUCH_KEY", raising=False)
    answers = tmp_path / "a.json"
    answers.write_text("[]")
    with pytest.raises(RecycleError, match="judge is OpenAI but .* RECYCLE_NO_SUCH_KEY is not set"):
        run_judge(cfg, str(answers), str(answers), str(tmp_path / "j"), preflight=False)
