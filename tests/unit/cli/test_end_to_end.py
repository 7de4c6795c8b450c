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
