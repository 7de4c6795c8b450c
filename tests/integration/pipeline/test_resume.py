"""Kill a pipeline run part-way (SIGKILL of the driver and its local Ray), run it again, and get
the same final dataset as an uninterrupted run: no sample twice, none lost, no answered prompt
asked again (beyond the few in flight at the instant of the kill). The uninterrupted run, run
again, pays nothing: finished, it changes nothing; with output.overwrite=true, it is redone from
the teacher cache to the same rows and scores. (Table 6's statistics are off: test_stats_in_stream
covers them.)"""

import json
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
from recycle.rundir import outcome_files, read_manifest, read_outcome
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


def run_killed_then_resumed(cmd: list[str], out: Path, answered: list, prompts: int) -> None:
    """Kill once rows are written, or once 3/4 of the prompts are answered if no part is written
    yet (on a loaded machine the first part can land near the end): either way, part-way."""
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
    # the same command again, through the same entry (recycle.api, as `recycle run` goes), on this
    # test run's Ray: a rerun after a kill that took the run's own Ray with it
    api.run(None, overrides(cmd))


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
        resumed, straight = tmp_path / "resumed", tmp_path / "straight"
        run_killed_then_resumed(
            command(small_dataset, resumed, tiny_model_dir, server.base_url),
            resumed,
            teacher.answered,
            2 * 40,
        )
        paid_resumed = Counter(teacher.answered)
        teacher.answered.clear()
        # the uninterrupted reference: the same command through the same entry (recycle.api, as
        # `recycle run` goes), on this test run's Ray instead of a Ray of its own
        api.run(None, overrides(command(small_dataset, straight, tiny_model_dir, server.base_url)))
        exported = (straight / "recycled_alpaca.json").read_text()
        teacher.answered.clear()
        sent = server.stats.requests
        written = {p: p.stat().st_mtime_ns for p in made_files(straight)}
        # the same command on a finished run, from the command line: nothing left, so no
        # endpoint, gate or actor pool, and its export and report stand as they are
        env = {**os.environ, "RAY_ADDRESS": "", "PYTHONPATH": str(REPO)}
        rerun = subprocess.run(
            command(small_dataset, straight, tiny_model_dir, server.base_url),
            cwd=REPO, env=env, check=True, timeout=400, capture_output=True, text=True,
        )  # fmt: skip
        assert teacher.answered == [] and server.stats.requests == sent
        assert {p: p.stat().st_mtime_ns for p in made_files(straight)} == written
        assert "report: unchanged" in rerun.stdout + rerun.stderr
        again, before = read_manifest(str(straight)), rows_by_id(straight)

        # output.overwrite=true: redone from scratch, every prompt from the teacher cache, the
        # student's scores recomputed to the same values
        api.run(None, [*overrides(command(small_dataset, straight, tiny_model_dir, server.base_url)),
                       "output.overwrite=true"])  # fmt: skip
        assert teacher.answered == [] and server.stats.requests == sent
        after = rows_by_id(straight)
        assert read_manifest(str(straight))["counts"] == again["counts"]
        pd.testing.assert_series_equal(before[C.FINAL_OUTPUT], after[C.FINAL_OUTPUT])
        assert np.allclose(
            before["res_rifd"].astype(float), after["res_rifd"].astype(float), equal_nan=True
        )

    assert [i["status"] for i in again["invocations"]] == ["finished", "finished"]
    assert again["invocations"][1]["teacher"] == {} and again["invariant"]["ok"]
    assert (straight / "recycled_alpaca.json").read_text() == exported

    # Only an answer in flight at the instant of the kill can be paid again (it never reached the
    # cache); at most 2 stages x 1 actor x 2 in flight. Everything answered before is never re-asked.
    repaid = sum(n - 1 for n in paid_resumed.values())
    assert repaid <= 4
    assert len(paid_resumed) == 2 * 40
    a, b = rows_by_id(resumed), rows_by_id(straight)
    assert a.index.is_unique and list(a.index) == list(b.index)  # none twice, none lost
    assert a[C.OUTCOME].to_dict() == b[C.OUTCOME].to_dict()
    assert a[C.FINAL_OUTPUT].dropna().to_dict() == b[C.FINAL_OUTPUT].dropna().to_dict()
    ma, mb = read_manifest(str(resumed)), again
    assert ma["counts"] == mb["counts"] and ma["invariant"]["ok"]
    assert json.loads((resumed / "recycled_alpaca.json").read_text()) == json.loads(
        (straight / "recycled_alpaca.json").read_text()
    )
