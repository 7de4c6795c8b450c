import logging
import time

import pyarrow as pa

from recycle import columns as C
from recycle.logs import PROGRESS_LOGGER
from recycle.pipeline.progress import eta_reference, logged_progress, progress_line, stage_done
from recycle.rundir import write_outcome_batch


def _write(run: str, ids: list[str], outcomes: list[str]) -> None:
    table = pa.table({C.SAMPLE_ID: ids, C.OUTCOME: outcomes, C.REASON: [""] * len(ids)})
    write_outcome_batch(table, run)


def test_progress_line_counts_rows_rate_and_eta(tmp_path):
    run = str(tmp_path)
    _write(run, ["a", "b", "c"], ["kept", "dropped", "dropped"])
    t0 = time.monotonic() - 99.8  # as if the stage started 100 s ago (0.7 s left for the call)
    line = progress_line(run, None, t0, total=6, stage="reflect+score")
    assert line.startswith("reflect+score: 3/6 samples in 1m40s (0.03/s, ETA 1m40s)")
    assert "kept 1, dropped 2, rejected 0" in line


def test_progress_line_counts_only_rows_written_since_the_start(tmp_path):
    run = str(tmp_path)
    _write(run, ["a", "b"], ["kept", "kept"])  # an earlier, interrupted run
    _write(run, ["c"], ["rejected"])
    line = progress_line(run, None, time.monotonic(), rows_at_start=2, total=1)
    assert line.startswith("progress: 1/1 samples") and "ETA" not in line


def test_logged_progress_logs_a_last_line_and_stage_lines(tmp_path, caplog):
    run = str(tmp_path)
    with caplog.at_level(logging.INFO, logger=PROGRESS_LOGGER):
        with logged_progress(run, None, every_s=60, total=2, stage="reflect+score"):
            _write(run, ["a", "b"], ["kept", "dropped"])
        stage_done("report", "runs/x/report/report.html", 1.4)
    lines = [r.getMessage() for r in caplog.records if r.name == PROGRESS_LOGGER]
    assert lines[0].startswith("reflect+score: 2/2 samples")
    assert lines[1] == "report: runs/x/report/report.html in 1s"


def test_eta_uses_the_rate_since_a_recent_point_not_the_start_up(tmp_path):
    run = str(tmp_path)
    now = time.monotonic()
    _write(run, ["a", "b", "c", "d"], ["kept"] * 4)
    # 100 s of start-up, then 2 rows in the 10 s after the first 2 appeared: 0.2/s, 6 rows to go
    line = progress_line(run, None, now - 110, total=10, rate_since=(now - 10, 2))
    assert "(0.04/s, ETA 30s)" in line  # the average rate is shown, the steady one gives the ETA
    assert "ETA 2m45s" in progress_line(run, None, now - 110, total=10)  # without: start-up counted


def test_the_eta_rate_is_measured_over_the_last_third_of_the_run():
    # rows first seen at t=100, one observation every 5 s, 1 row/s until t=400, then 3 rows/s
    history = [(float(t), t - 100 if t <= 400 else 300 + 3 * (t - 400)) for t in range(100, 701, 5)]
    at, done = eta_reference(history, now=700.0)
    assert (at, done) == (500.0, 600)  # 600 s since the first rows: the last 200 s
    assert (history[-1][1] - done) / (700.0 - at) == 3.0  # the new pace, not the average (1.7/s)
    assert eta_reference(history[:5], now=120.0) == (100.0, 0)  # under a minute: from the start
    assert eta_reference([], now=5.0) is None
