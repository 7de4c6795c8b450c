"""`recycle end-to-end` and jobs/end_to_end.py: one flow, the same pre-flight, documented exit codes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from recycle.commands import flow
from recycle.teacher.errors import TeacherOutageError

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def job():
    spec = importlib.util.spec_from_file_location("end_to_end", REPO / "jobs" / "end_to_end.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_job_runs_pre_flight_and_exits_2_in_one_line(job, tmp_path, capsys):
    code = job.main([f"data.input={tmp_path / 'missing.jsonl'}", f"output.dir={tmp_path / 'out'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "missing.jsonl" in err[0]


@pytest.fixture
def data(tmp_path) -> str:
    path = tmp_path / "in.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n')
    return str(path)


def test_a_teacher_outage_exits_4_from_the_job(job, monkeypatch, data, tmp_path, capsys):
    def outage(cfg, train=True, preflight=True):
        raise TeacherOutageError("the teacher did not answer for 600 s")

    monkeypatch.setattr(flow, "run_end_to_end", outage)
    assert job.main(["--no-preflight", f"data.input={data}", f"output.dir={tmp_path}"]) == 4
    assert "did not answer for 600 s" in capsys.readouterr().err


def test_samples_left_for_a_rerun_exit_3_and_skip_training(monkeypatch, data, tmp_path, capsys):
    from recycle.cli.main import main

    manifest = {"counts": {"input": 3, "kept": 1, "dropped": {}, "rejected": {}, "retry": {"budget": 2}}}  # fmt: skip
    monkeypatch.setattr(
        "recycle.commands.pipeline.run_pipeline", lambda cfg, preflight=True: manifest
    )
    monkeypatch.setattr("recycle.commands.train.run_finetune", lambda cfg: pytest.fail("trained on a partial run"))  # fmt: skip
    monkeypatch.setattr("recycle.cli.end_to_end.summary_lines", lambda m, log=None: [])
    code = main(["end-to-end", "--no-preflight", f"data.input={data}", f"output.dir={tmp_path}"])
    assert code == 3 and "recycle end-to-end" in capsys.readouterr().err


def test_the_evaluation_job_prints_a_verdict_without_a_pairwise_judge(
    monkeypatch, tmp_path, capsys
):
    """jobs/evaluate.py with lm-eval only: no manifest["judge_dir"] (it used to raise KeyError)."""
    tasks = {
        s: {"tasks": {"arc_challenge": v}, "average": None} for s, v in (("a", 0.5), ("b", 0.25))
    }
    lm_eval = {**tasks, "difference": {"arc_challenge": 0.25, "average": None}}
    manifest = {"counts": {"input": 2, "kept": 2, "dropped": {}, "rejected": {}},
                "verdict": {"lm_eval": lm_eval}}  # fmt: skip
    monkeypatch.setattr("recycle.commands.eval.run_eval", lambda cfg, preflight=True: manifest)
    spec = importlib.util.spec_from_file_location("evaluate", REPO / "jobs" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--no-preflight", f"output.dir='{tmp_path}'", "eval.model_a=a", "eval.model_b=b"]
    assert module.main(argv) == 0
    assert "lm-eval arc_challenge: A 50.00, B 25.00, A - B +25.00" in capsys.readouterr().out


def test_the_demo_exits_3_when_samples_are_left_for_a_rerun(monkeypatch, tmp_path, capsys):
    """`recycle demo` exits as `recycle run` does (it used to exit 0 whatever happened)."""
    from recycle.cli.main import main

    manifest = {"counts": {"input": 3, "kept": 1, "dropped": {}, "rejected": {}, "retry": {"budget": 2}}}  # fmt: skip
    seen = {}

    def run_demo(cfg, train_seconds=30.0, preflight=True):
        seen.update(out=cfg.output.dir, seconds=train_seconds, quiet=cfg.ray.quiet)
        return manifest

    monkeypatch.setattr("recycle.demo.offline.run_demo", run_demo)
    assert main(["demo", "--output", str(tmp_path), "--train-seconds", "1"]) == 3
    assert seen == {"out": str(tmp_path), "seconds": 1.0, "quiet": True}
    assert "recycle demo --output" in capsys.readouterr().err  # how to run it again
