# ruff: noqa: F811  (fixtures imported from tests.support are parameters here)
"""A whole run on object storage (moto's S3 on 127.0.0.1, reached through AWS_ENDPOINT_URL and
credential variables, as pyarrow reaches S3): output.dir and teacher.cache_dir on s3://, the run
killed with SIGKILL and run again, then `recycle select`, `report`, `train` (checkpoints and
the exported model on s3://) and `generate` (evaluation's first step, on that model) reading it. The rows are those of the same run on a local disk, and no prompt answered
before the kill is paid again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from recycle import api
from recycle import columns as C
from recycle.rundir import outcome_files, read_manifest
from recycle.storage import filesystem
from recycle.testing.local_server import LocalTeacherServer
from tests.integration.cluster.conftest import ROWS
from tests.integration.pipeline.conftest import RecordingTeacher
from tests.integration.pipeline.test_resume import rows_by_id
from tests.support.s3 import SECRET, s3_env  # noqa: F401

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
RUN, CACHE, CKPT = "s3://runs/run1", "s3://runs/cache1", "s3://runs/checkpoints"


def recycle(*args: str) -> list[str]:
    return [sys.executable, "-m", "recycle", *args]


def run_args(data: Path, out: str, url: str, cache: str) -> list[str]:
    """A recycle-mode run (teacher only): every row is kept, so training has them all."""
    return recycle(
        "run", f"data.input='{data}'", f"output.dir='{out}'", f"teacher.cache_dir='{cache}'",
        f"teacher.base_url={url}", "teacher.model=local-teacher", "selection.mode=recycle",
        "teacher.num_actors=1", "teacher.concurrency=2", "ray.block_rows=4",
        "output.report_stats=false", *LOCAL_RAY,
    )  # fmt: skip


# Each command starts its own Ray, which inherits the S3 variables; SIGKILL of the process group
# takes that Ray with it. (Killing only the driver of a long-lived cluster and rerunning re-paid
# 15 and 21 of 80 prompts in two tries here, even once the killed job's actors were gone: see
# the README's "Running on a cluster".)
LOCAL_RAY = ("ray.address=local", "ray.num_cpus=2")


def env() -> dict[str, str]:
    return {**os.environ, "RAY_ADDRESS": "", "PYTHONPATH": str(REPO)}


def parts_written(uri: str) -> int:
    return sum(len(outcome_files(uri, o, "part")) for o in C.OUTCOMES)


def kill_part_way(cmd: list[str], answered: list, prompts: int) -> None:
    """SIGKILL the driver and its Ray once part files are on S3 or half the prompts are paid."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env(), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        if len(answered) >= prompts // 2 or (answered and parts_written(RUN)):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def ok(cmd: list[str]) -> str:
    done = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert SECRET not in done.stdout + done.stderr
    return done.stdout


def test_a_run_on_s3_killed_and_resumed_writes_the_local_run_s_rows(
    s3_env, clean_rows, tiny_model_dir, tmp_path, monkeypatch, ray_local
):
    teacher = RecordingTeacher()
    monkeypatch.setenv("RECYCLE_MODEL_CACHE", str(tmp_path / "models"))  # the commands inherit it
    with LocalTeacherServer(answer=teacher, latency_s=0.15) as server:
        kill_part_way(
            run_args(clean_rows, RUN, server.base_url, CACHE),
            teacher.answered,
            2 * ROWS,
        )
        ok(run_args(clean_rows, RUN, server.base_url, CACHE))
        paid_s3 = Counter(teacher.answered)
        # the uninterrupted reference on a local disk: the same command through the same entry
        # (recycle.api, as `recycle run` goes), on this test run's Ray (no S3 in it)
        local = tmp_path / "local"
        reference = run_args(clean_rows, str(local), server.base_url, str(tmp_path / "cache"))
        assert reference[1:4] == ["-m", "recycle", "run"], reference
        api.run(None, reference[4:])
    # in flight at the kill: at most 2 teacher stages x 1 actor x 2 concurrent requests
    # (recycle mode: instruction, then response reflection)
    assert len(paid_s3) == 2 * ROWS and sum(n - 1 for n in paid_s3.values()) <= 4
    s3_rows, local_rows = rows_by_id(RUN), rows_by_id(local)
    assert s3_rows.index.is_unique and list(s3_rows.index) == list(local_rows.index)
    assert s3_rows[C.FINAL_OUTPUT].to_dict() == local_rows[C.FINAL_OUTPUT].to_dict()
    manifest = read_manifest(RUN)
    assert manifest["invariant"]["ok"] and manifest["counts"] == read_manifest(str(local))["counts"]
    assert [i["status"] for i in manifest["invocations"]][-1] == "finished"
    fs, path = filesystem(CACHE)
    assert fs.get_file_info(path).type.name == "Directory"  # the cache lives on S3

    selected = "s3://runs/reselected"
    ok(
        recycle(
            "select", "--input", RUN, "--output", selected, "selection.mode=recycle", *LOCAL_RAY
        )
    )
    assert read_manifest(selected)["counts"] == manifest["counts"]
    assert "report:" in ok(recycle("report", RUN))
    trained = ok(recycle(
        "train", f"output.dir={RUN}", f"student.model={tiny_model_dir}", f"train.storage_path={CKPT}",
        "train.num_workers=1", "train.micro_batch_size=2", "train.global_batch_size=4",
        "train.max_length=128", "train.epochs=1", "train.max_steps=3", "train.checkpoint_every_steps=2",
        "train.mixed_precision=fp32", "train.max_failures=0", *LOCAL_RAY,
    ))  # fmt: skip
    fs, path = filesystem(CKPT)
    assert fs.get_file_info(path).type.name == "Directory", trained
    assert read_manifest(f"{RUN}/train")["outputs"]["model"] == f"{RUN}/model"

    # evaluation's generation loads the exported model from S3 (copied once to the node)
    answers = f"{RUN}/answers"
    ok(recycle(
        "generate", "--model", f"{RUN}/model", "--output", answers, "eval.limit_per_set=1",
        "eval.max_new_tokens=8", "eval.num_actors=1", *LOCAL_RAY,
    ))  # fmt: skip
    generated = read_manifest(answers)
    assert generated["invariant"]["ok"] and generated["counts"]["input"] == 5, generated["counts"]
    assert len(list((tmp_path / "models").iterdir())) == 1  # the one local copy of the model
