"""A driver SIGKILLed on a long-lived cluster (the cluster left running) and the same command run
again at once: the rerun pays again at most for the prompts that were in flight at the kill.

The setting that re-paid more (issue 37: 15 and 21 of 80 prompts in the cluster work's probe,
teacher cache on S3): a cache write that takes longer than the teacher's answer. A teacher actor
gave its concurrency slot back as soon as an answer arrived, before the answer was in the cache,
and sent the next request in that slot; answers that had arrived and were still being written
piled up beyond `teacher.concurrency`, and every one of them died with the actor, paid and not
cached. Here moto's S3 holds the cache, its PUTs made slower than the answers, so that the pile
is there at whatever moment the driver is killed.
"""

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

from recycle.rundir import read_manifest
from recycle.testing.local_server import LocalTeacherServer
from recycle.testing.multinode import LocalCluster
from tests.integration.pipeline.conftest import RecordingTeacher
from tests.support.s3 import moto_s3
from tests.support.tiny_model import alpaca_rows

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
ROWS = 12
STAGES = 2  # recycle mode: the instruction's reflection, then the response's
ACTORS = 1  # teacher actors per stage
CONCURRENCY = 2
IN_FLIGHT = STAGES * ACTORS * CONCURRENCY  # the most that can be sent and not cached at a kill
PUT_DELAY_S = 0.3  # a cache write; the teacher answers in LATENCY_S
LATENCY_S = 0.05
CACHE = "s3://runs/cache"


def command(data: Path, out: Path, url: str, address: str) -> list[str]:
    return [
        sys.executable, "-m", "recycle", "run", f"data.input={data}", f"output.dir={out}",
        f"teacher.cache_dir={CACHE}", f"teacher.base_url={url}", "teacher.model=local-teacher",
        "selection.mode=recycle", f"teacher.num_actors={ACTORS}",
        f"teacher.concurrency={CONCURRENCY}", "ray.block_rows=4", "output.report_stats=false",
        f"ray.address={address}",
    ]  # fmt: skip


def kill_driver_after(proc: subprocess.Popen, answered: list, count: int) -> None:
    """SIGKILL the driver alone (its cluster keeps running) once `count` prompts are answered."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and len(answered) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_killed_driver_s_rerun_pays_again_at_most_what_was_in_flight(tmp_path, monkeypatch):
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in alpaca_rows()[:ROWS]))
    teacher = RecordingTeacher()
    with moto_s3("runs", put_delay_s=PUT_DELAY_S, delayed_prefix="/runs/cache/") as s3:
        for key, value in s3.items():  # the cluster's workers (the teacher actors) inherit them
            monkeypatch.setenv(key, value)
        with (
            LocalCluster(workers=1, cpus_per_worker=2) as cluster,
            LocalTeacherServer(answer=teacher, latency_s=LATENCY_S) as server,
        ):
            cmd = command(data, tmp_path / "run", server.base_url, cluster.address)
            env = cluster.driver_env(PYTHONPATH=str(REPO))
            first = subprocess.Popen(
                cmd, cwd=REPO, env=env, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )  # fmt: skip
            kill_driver_after(first, teacher.answered, ROWS // 2)
            at_kill = len(teacher.answered)
            rerun = subprocess.run(
                cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
            )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    paid = Counter(teacher.answered)
    twice = sum(n - 1 for n in paid.values())
    assert len(paid) == STAGES * ROWS, (len(paid), at_kill)
    assert twice <= IN_FLIGHT, f"{twice} prompts paid twice (killed at {at_kill} answers)"
    manifest = read_manifest(str(tmp_path / "run"))
    assert manifest["invariant"]["ok"] and manifest["counts"]["kept"] == ROWS, manifest["counts"]
