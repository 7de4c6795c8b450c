# ruff: noqa: F811  (fixtures imported from tests.support are parameters here)
"""A whole run on object storage (moto's S3 on 127.0.0.1, reached through AWS_ENDPOINT_URL and
credential variables, as pyarrow reaches S3): output.dir and teacher.cache_dir on s3://, the run
killed with SIGKILL and run again, then `recycle select`, `report`, `train` (checkpoints and
the exported model on s3://) and `generate` (evaluation's first step, on that model) reading it.
The rows are those of the same run on a local disk, and no prompt answered before the kill is paid
again.

The run that is killed is `python -m recycle run` with a private Ray (SIGKILL of its process group
takes that Ray with it). Everything after the kill runs in ONE driver process with the S3
variables (`after_the_kill`): the same command again, then select, report, train and generate,
each through recycle.api (the entry `recycle COMMAND` goes through), on one private Ray instead of
one per command (each Ray start costs ~5 CPU-seconds on this 2-core machine)."""

from __future__ import annotations

import json
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
        "output.report_stats=false",
    )  # fmt: skip


# The killed command starts its own Ray, which inherits the S3 variables; SIGKILL of the process
# group takes that Ray with it. (Killing only the driver of a long-lived cluster and rerunning re-paid
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


def after_the_kill(spec_path: str) -> None:
    """The driver after the kill, run as `python -c` with the S3 variables: the killed command
    again, then select, report, train and generate, on one private Ray; what each returned goes
    to spec["result"] as JSON."""
    from recycle import api

    spec = json.loads(Path(spec_path).read_text())
    run = spec["run"]
    assert run[1:4] == ["-m", "recycle", "run"], run
    resumed = api.run(None, run[4:])
    selected = api.select(
        None, ["selection.mode=recycle"], input=RUN, output="s3://runs/reselected"
    )
    report = api.report(RUN)
    trained = api.train(None, [
        f"output.dir={RUN}", f"student.model={spec['student']}", f"train.storage_path={CKPT}",
        "train.num_workers=1", "train.micro_batch_size=2", "train.global_batch_size=4",
        "train.max_length=128", "train.epochs=1", "train.max_steps=3", "train.checkpoint_every_steps=2",
        "train.mixed_precision=fp32", "train.max_failures=0",
    ])  # fmt: skip
    generated = api.generate(
        f"{RUN}/model", f"{RUN}/answers",
        overrides=["eval.limit_per_set=1", "eval.max_new_tokens=8", "eval.num_actors=1"],
    )  # fmt: skip
    result = {"resumed": resumed, "selected": selected, "report": str(report),
              "trained_model": str(trained.model_dir), "generated": generated}  # fmt: skip
    Path(spec["result"]).write_text(json.dumps(result, default=str))


def test_a_run_on_s3_killed_and_resumed_writes_the_local_run_s_rows(
    s3_env, clean_rows, tiny_model_dir, tmp_path, monkeypatch, ray_local
):
    teacher = RecordingTeacher()
    monkeypatch.setenv("RECYCLE_MODEL_CACHE", str(tmp_path / "models"))  # the driver inherits it
    with LocalTeacherServer(answer=teacher, latency_s=0.15) as server:
        command = run_args(clean_rows, RUN, server.base_url, CACHE)
        kill_part_way([*command, *LOCAL_RAY], teacher.answered, 2 * ROWS)
        spec = {"run": [*command, *LOCAL_RAY], "student": str(tiny_model_dir),
                "result": str(tmp_path / "after.json")}  # fmt: skip
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        code = (
            "from tests.integration.cluster.test_object_store_run import after_the_kill; "
            f"after_the_kill({str(tmp_path / 'spec.json')!r})"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=env(), capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert SECRET not in done.stdout + done.stderr
        paid_s3 = Counter(teacher.answered)
        # the uninterrupted reference on a local disk: the same command through the same entry,
        # on this test run's Ray (no S3 in it)
        local = tmp_path / "local"
        reference = run_args(clean_rows, str(local), server.base_url, str(tmp_path / "cache"))
        api.run(None, reference[4:])
    after = json.loads((tmp_path / "after.json").read_text())
    # in flight at the kill: at most 2 teacher stages x 1 actor x 2 concurrent requests
    # (recycle mode: instruction, then response reflection)
    assert len(paid_s3) == 2 * ROWS and sum(n - 1 for n in paid_s3.values()) <= 4
    s3_rows, local_rows = rows_by_id(RUN), rows_by_id(local)
    assert s3_rows.index.is_unique and list(s3_rows.index) == list(local_rows.index)
    assert s3_rows[C.FINAL_OUTPUT].to_dict() == local_rows[C.FINAL_OUTPUT].to_dict()
    manifest = read_manifest(RUN)
    assert manifest["invariant"]["ok"] and manifest["counts"] == read_manifest(str(local))["counts"]
    assert after["resumed"]["counts"] == manifest["counts"]
    assert [i["status"] for i in manifest["invocations"]][-1] == "finished"
    fs, path = filesystem(CACHE)
    assert fs.get_file_info(path).type.name == "Directory"  # the cache lives on S3

    assert read_manifest("s3://runs/reselected")["counts"] == manifest["counts"]
    assert after["selected"]["counts"] == manifest["counts"]
    assert after["report"].startswith(RUN) and after["report"].endswith(".html"), after["report"]
    fs, path = filesystem(CKPT)
    assert fs.get_file_info(path).type.name == "Directory"
    assert read_manifest(f"{RUN}/train")["outputs"]["model"] == f"{RUN}/model"
    assert after["trained_model"] == f"{RUN}/model"

    # evaluation's generation loaded the exported model from S3 (copied once to the node)
    generated = read_manifest(f"{RUN}/answers")
    assert generated["invariant"]["ok"] and generated["counts"]["input"] == 5, generated["counts"]
    assert len(list((tmp_path / "models").iterdir())) == 1  # the one local copy of the model
