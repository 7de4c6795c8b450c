"""Each `jobs/` script's exit status, as a scheduler reads it under `ray job submit`.

    0 done, 2 config / input / pre-flight, 3 samples left for a rerun, 4 teacher outage past
    teacher.max_outage_s (recycle/exit_codes.py)

The teacher is the scripted local server (its outage and its prices), the student the tiny one.
Outages and budgets run each script's `main` in this process on the test session's Ray (what a
fresh interpreter would do, without starting a Ray per case); a bad config runs the script as
`ray job submit -- python jobs/NAME.py ...` runs it, in a fresh interpreter, and stops before Ray.
`RECYCLE_JOBS_DIR` points the tests at other copies of the scripts (the code before the change).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from recycle import exit_codes
from recycle.rundir import read_manifest
from recycle.testing.local_server import LocalTeacherServer
from tests.support.fixtures import *  # noqa: F403
from tests.support.tiny_model import alpaca_rows

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
JOBS = Path(os.environ.get("RECYCLE_JOBS_DIR", REPO / "jobs"))
SAMPLES = 8
TEACHER = [
    "teacher.model=local-teacher", "teacher.timeout_s=2", "teacher.backoff_base_s=0.05",
    "teacher.backoff_max_s=0.2", "teacher.num_actors=1", "teacher.concurrency=2",
    "teacher.probe_max_s=0.5",
]  # fmt: skip
OUTAGE = ["teacher.max_outage_s=2"]  # the server goes down after a few answers and stays down
PRICED = ["teacher.prices.local-teacher.input_per_1m=1000",
          "teacher.prices.local-teacher.output_per_1m=1000"]  # fmt: skip
BUDGET = [*PRICED, "teacher.max_cost_usd=1", "teacher.max_tokens=256"]  # a few requests' worth


def job(name: str) -> Callable[[list[str]], int]:
    """The script's `main`, loaded from its file as `python jobs/NAME.py` loads it."""
    spec = importlib.util.spec_from_file_location(f"job_{name}", JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("jobs") / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in alpaca_rows(SAMPLES)))
    return path


def run_args(data: Path, out: Path, student: Path, server: LocalTeacherServer) -> list[str]:
    """A small pipeline run against the local teacher (the pipeline and end-to-end jobs)."""
    return [
        f"data.input='{data}'", f"output.dir='{out}'", f"student.model='{student}'",
        f"teacher.base_url={server.base_url}", *TEACHER, "student.max_length=512",
        "student.num_actors=1", "student.batch_size=8", "output.report_stats=false",
        "selection.require_response_reflected=false",
    ]  # fmt: skip


def answers(folder: Path, generator: str) -> Path:
    """A model's answers to four questions, as AlpacaEval's model_outputs.json."""
    rows = [{"instruction": r["instruction"], "input": r["input"], "dataset": "alpaca",
             "output": f"{generator}: {r['output']}", "generator": generator}
            for r in alpaca_rows(4)]  # fmt: skip
    path = folder / f"{generator}.json"
    path.write_text(json.dumps(rows))
    return path


def as_judge(settings: list[str]) -> list[str]:
    """The same settings for the judge's section (teacher.X=... -> judge.X=...)."""
    return ["judge." + s.removeprefix("teacher.") for s in settings]


def eval_args(folder: Path, server: LocalTeacherServer) -> list[str]:
    """The evaluation job on two answer files: the pairwise judge only (the local server)."""
    a, b = answers(folder, "A"), answers(folder, "B")
    return [f"eval.answers_a='{a}'", f"eval.answers_b='{b}'", f"output.dir='{folder / 'eval'}'",
            f"judge.base_url={server.base_url}", *as_judge(TEACHER)]  # fmt: skip


# The outage and budget cases run jobs/end_to_end.py, the job that streams and then trains.
# jobs/recycle_data.py is `recycle run` (one call, checked in tests/unit/cli/test_jobs.py): its
# exit 3 and 4 are `recycle run`'s (tests/integration/pipeline/test_outage.py) through the same
# `main`; a second pipeline run here for it took ~60 s of CI.
def test_a_teacher_outage_past_the_limit_exits_4(ray_local, tmp_path, data, tiny_model_dir, capsys):
    with LocalTeacherServer(latency_s=0.05) as server:
        server.outage(600.0, after_requests=3)
        code = job("end_to_end")(
            [*run_args(data, tmp_path / "run", tiny_model_dir, server), *OUTAGE]
        )
    err = capsys.readouterr().err
    assert code == exit_codes.TEACHER_UNREACHABLE == 4, err
    assert "max_outage_s=2" in err and "run the same command again" in err
    stopped = read_manifest(str(tmp_path / "run"))
    assert stopped["status"] == "stopped" and stopped["counts"]["pending"] > 0


def test_a_judge_outage_past_the_limit_exits_4_from_the_evaluation_job(ray_local, tmp_path, capsys):
    with LocalTeacherServer(latency_s=0.05) as server:
        server.outage(600.0, after_requests=2)
        code = job("evaluate")([*eval_args(tmp_path, server), *as_judge(OUTAGE)])
    err = capsys.readouterr().err
    assert code == exit_codes.TEACHER_UNREACHABLE == 4, err
    assert "max_outage_s=2" in err


def test_samples_left_for_a_rerun_exit_3(ray_local, tmp_path, data, tiny_model_dir, capsys):
    with LocalTeacherServer() as server:
        code = job("end_to_end")(
            [*run_args(data, tmp_path / "run", tiny_model_dir, server), *BUDGET]
        )
    err = capsys.readouterr().err
    manifest = read_manifest(str(tmp_path / "run"))
    left = manifest["counts"].get("retry", {})
    assert code == exit_codes.INCOMPLETE == 3, err
    assert left.get("budget", 0) > 0 and "samples were left for a rerun" in err
    assert "train" not in manifest  # end-to-end trains once the data is whole


def test_pairs_left_unjudged_by_the_budget_exit_3_from_the_evaluation_job(
    ray_local, tmp_path, capsys
):
    with LocalTeacherServer() as server:
        code = job("evaluate")([*eval_args(tmp_path, server), *as_judge(BUDGET)])
    err = capsys.readouterr().err
    assert code == exit_codes.INCOMPLETE == 3, err
    unanswered = read_manifest(str(tmp_path / "eval"))["pairwise"]["unanswered"]
    assert unanswered.get("judge/budget", 0) > 0 and "left for a rerun" in err
    assert "raise judge.max_cost_usd" in err


BAD_CONFIGS = {
    "recycle_data": ["teacher.modle=gpt-4o"],  # a typo in a key
    "end_to_end": ["data.input='{tmp}/missing.jsonl'", "output.dir='{tmp}/out'"],
    "finetune": ["student.model='{tmp}/no_model'", "output.dir='{tmp}/out'"],
    "evaluate": ["eval.answers_a='{tmp}/none.json'", "eval.model_b='{tmp}/no_model'"],
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_a_bad_config_exits_2_in_one_line_before_ray(name, tmp_path):
    argv = [a.format(tmp=tmp_path) for a in BAD_CONFIGS[name]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    proc = subprocess.run([sys.executable, str(JOBS / f"{name}.py"), *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == exit_codes.USAGE == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert not (tmp_path / "out").exists()  # nothing started, nothing written
