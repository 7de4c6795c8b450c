"""Pre-flight runs wherever a command starts: each library entry point and each job, given a bad
config, stops with the declared check's message before Ray starts (its start raises here).
The command line is covered by tests/unit/test_preflight.py."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

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
