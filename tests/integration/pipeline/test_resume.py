"""Kill a pipeline run part-way (SIGKILL of the driver and its local Ray), run it again, and get
the same final dataset as an uninterrupted run: no sample twice, none lost, no answered prompt
asked again (beyond the few in flight at the instant of the kill), no request sent by the killed
run's actors after the kill (they outlive their Ray by a second), and a manifest that counts
every request the killed invocation sent (resume.InvocationJournal, written ahead of each
request by the gate: teacher.write_ahead). The
resumed run, run again, pays nothing: finished, it changes nothing. The uninterrupted reference is
the same directory redone from scratch (output.overwrite=true) with a fresh teacher cache: the
same rows, outcomes, scores and export. (Table 6's statistics are off: test_pipeline covers
them.)"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recycle import api
from recycle import columns as C
from recycle.rundir import INVOCATIONS_DIR, outcome_files, read_manifest, read_outcome
from recycle.testing.local_server import LocalTeacherServer
from tests.integration.pipeline.conftest import RecordingTeacher

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def command(data: Path, out: Path, student: Path, url: str) -> list[str]:
    return [
        sys.executable, "-m", "recycle", "run", f"data.input='{data}'", f"output.dir='{out}'",
        f"student.model='{student}'", f"teacher.base_url={url}", "teacher.model=local-teacher",
        "teacher.num_actors=1", "teacher.concurrency=2", "student.num_actors=1", "student.batch_size=4",
        "student.max_length=1024", "selection.require_response_reflected=false", "ray.num_cpus=2",
        "output.report_stats=false",
    ]  # fmt: skip


def written_rows(out: Path) -> int:
    return sum(len(outcome_files(str(out), o, "part")) for o in C.OUTCOMES)


def rows_by_id(out: Path) -> pd.DataFrame:
    """Every written row but the duplicate rejects (which share their original's sample id)."""
    frames = [t.to_pandas() for o in C.OUTCOMES if (t := read_outcome(str(out), o)) is not None]
    rows = pd.concat(frames, ignore_index=True)
    return rows[rows[C.REASON] != "duplicate"].set_index(C.SAMPLE_ID).sort_index()


def run_killed_then_resumed(
    cmd: list[str], out: Path, answered: list, prompts: int, server: LocalTeacherServer
) -> int:
    """Kill once rows are written, or once 3/4 of the prompts are answered if no part is written
    yet (on a loaded machine the first part can land near the end): either way, part-way.
    Returns how many requests the scripted server had received by the kill."""
    env = {**os.environ, "RAY_ADDRESS": "", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 240
    while (
        written_rows(out) == 0
        and len(answered) < 3 * prompts // 4
        and proc.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    assert list((out / INVOCATIONS_DIR).glob("*.json")), "the killed invocation left no journal"
    received = server.stats.requests
    # the same command again, through the same entry (recycle.api, as `recycle run` goes), on this
    # test run's Ray: a rerun after a kill that took the run's own Ray with it
    api.run(None, overrides(cmd))
    return received


def made_files(out: Path) -> list[Path]:
    """The export and the report of a run directory."""
    return [out / "recycled_alpaca.json", out / "report" / "report.html"]


def overrides(cmd: list[str]) -> list[str]:
    """The config overrides of a `python -m recycle run ...` command line."""
    assert cmd[1:4] == ["-m", "recycle", "run"], cmd
    return cmd[4:]


def test_killed_run_resumes_to_the_same_result(tmp_path, small_dataset, tiny_model_dir, ray_local):
    teacher = RecordingTeacher()
    with LocalTeacherServer(answer=teacher, latency_s=0.15) as server:
        resumed = tmp_path / "resumed"
        cmd = command(small_dataset, resumed, tiny_model_dir, server.base_url)
        paid_killed = run_killed_then_resumed(cmd, resumed, teacher.answered, 2 * 40, server)
        sent_resumed = server.stats.requests
        paid_resumed = Counter(teacher.answered)
        teacher.answered.clear()
        ma, rows_resumed = read_manifest(str(resumed)), rows_by_id(resumed)
        exported = (resumed / "recycled_alpaca.json").read_text()
        written = {p: p.stat().st_mtime_ns for p in made_files(resumed)}
        # the same command on the finished run, from the command line: nothing left, so no
        # endpoint, gate or actor pool, and its export and report stand as they are
        env = {**os.environ, "RAY_ADDRESS": "", "PYTHONPATH": str(REPO)}
        rerun = subprocess.run(
            cmd, cwd=REPO, env=env, check=True, timeout=400, capture_output=True, text=True
        )
        assert teacher.answered == [] and server.stats.requests == sent_resumed
        assert {p: p.stat().st_mtime_ns for p in made_files(resumed)} == written
        assert "report: unchanged" in rerun.stdout + rerun.stderr
        again = read_manifest(str(resumed))

        # the uninterrupted reference: the same directory redone from scratch in one go
        # (output.overwrite=true), with a teacher cache of its own, so that every prompt is asked
        # of the teacher again, once; through the same entry (recycle.api, as `recycle run`
        # goes), on this test run's Ray
        fresh = f"teacher.cache_dir='{tmp_path / 'fresh_cache'}'"
        api.run(None, [*overrides(cmd), "output.overwrite=true", fresh])
        paid_straight = Counter(teacher.answered)

    assert [i["status"] for i in again["invocations"]] == ["killed", "finished", "finished"]
    assert again["invocations"][2]["teacher"] == {} and again["invariant"]["ok"]
    assert again["counts"] == ma["counts"]
    straight = read_manifest(str(resumed))
    assert [i["status"] for i in straight["invocations"]] == ["finished"]  # overwritten
    assert set(paid_straight.values()) == {1} and set(paid_straight) == set(paid_resumed)

    # Only an answer in flight at the instant of the kill can be paid again (it never reached the
    # cache); at most 2 stages x 1 actor x 2 in flight. Everything answered before is never re-asked.
    repaid = sum(n - 1 for n in paid_resumed.values())
    assert repaid <= 4
    assert len(paid_resumed) == 2 * 40
    a, b = rows_resumed, rows_by_id(resumed)
    assert a.index.is_unique and list(a.index) == list(b.index)  # none twice, none lost
    assert a[C.OUTCOME].to_dict() == b[C.OUTCOME].to_dict()
    assert a[C.FINAL_OUTPUT].dropna().to_dict() == b[C.FINAL_OUTPUT].dropna().to_dict()
    assert np.allclose(a["res_rifd"].astype(float), b["res_rifd"].astype(float), equal_nan=True)
    assert ma["counts"] == straight["counts"] and ma["invariant"]["ok"]
    assert (resumed / "recycled_alpaca.json").read_text() == exported

    # What was paid is counted: the gate has each request on record before it leaves
    # (teacher.write_ahead), so the killed invocation's record counts every request the server
    # received from it, and at most the 4 it let go that had not arrived yet (2 stages x 1 actor
    # x 2 in flight); nothing is counted twice.
    assert [i["status"] for i in ma["invocations"]] == ["killed", "finished"]
    counted = ma["invocations"][0]["teacher"]["requests"]
    seen = f"{paid_killed} received, {counted} counted"
    assert paid_killed <= counted <= paid_killed + 4, seen  # journaled every 5 s: 62 and 44 once
    assert sent_resumed <= ma["teacher"]["requests"] <= sent_resumed + 4, seen
    # and the killed run's actors, alive for a second after their Ray, sent nothing more
    # (gate.RayGate.hold): what the server got after the kill is what the rerun sent and counted,
    # plus at most the requests the killed run had counted and let go that arrived after the kill
    after_kill, rerun = sent_resumed - paid_killed, ma["teacher"]["requests"] - counted
    assert rerun <= after_kill <= rerun + (counted - paid_killed), f"{seen}, {after_kill} after"
