"""Ctrl-C right after a burst of teacher requests is sent: the answers in flight land in the cache
before the run stops, nothing new is sent after the interrupt, and the rerun pays for none of them.

The interrupt is timed on the server, not by luck: SIGINT goes to the run's process group (as a
terminal's Ctrl-C does) the moment the server holds a full burst, every slot of the teacher actor
in flight, each answer taking seconds.
"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from recycle import api
from recycle.testing.local_server import LocalTeacherServer
from tests.integration.pipeline.conftest import RecordingTeacher

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
BURST = 6  # teacher.concurrency: the burst fills every slot
LATENCY_S = 2.5


def command(data: Path, out: Path, student: Path, url: str) -> list[str]:
    return [
        sys.executable, "-m", "recycle", "run", f"data.input='{data}'", f"output.dir='{out}'",
        f"student.model='{student}'", f"teacher.base_url={url}", "teacher.model=local-teacher",
        "teacher.num_actors=1", f"teacher.concurrency={BURST}", "student.num_actors=1",
        "student.max_length=1024", "output.report_stats=false", "ray.num_cpus=2",
    ]  # fmt: skip


def test_ctrl_c_after_a_burst_pays_for_none_of_it_again(
    tmp_path, small_dataset, tiny_model_dir, ray_local
):
    teacher = RecordingTeacher()
    out = tmp_path / "run"
    env = {**os.environ, "RAY_ADDRESS": "", "PYTHONPATH": str(REPO)}
    with LocalTeacherServer(answer=teacher, latency_s=LATENCY_S) as server:
        cmd = command(small_dataset, out, tiny_model_dir, server.base_url)
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while server.stats.in_flight < BURST and proc.poll() is None:
            assert time.monotonic() < deadline, "no burst of requests reached the server"
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        interrupted_at = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        console, _ = proc.communicate(timeout=120)
        first = Counter(teacher.answered)
        sent_after = [a for a in server.stats.arrivals if a > interrupted_at + 1.0]
        server.latency_s = 0.05  # the rerun only has to finish: slow answers were for the burst
        # the same command again, through the same entry (recycle.api, as `recycle run` goes), on
        # this test run's Ray instead of a Ray of its own
        assert cmd[1:4] == ["-m", "recycle", "run"], cmd
        api.run(None, cmd[4:])
        both = Counter(teacher.answered)

    assert proc.returncode == 130, console
    assert "in flight to land in the cache" in console
    assert len(first) >= BURST  # the burst was answered before the run stopped
    assert not sent_after, f"{len(sent_after)} requests sent after the interrupt"
    repaid = sum(n - 1 for n in both.values())
    assert repaid == 0, f"{repaid} prompts paid twice"
    assert len(both) == 2 * 40  # every prompt of the run, each once
