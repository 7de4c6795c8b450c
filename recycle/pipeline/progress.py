"""One progress line per stage: samples written of the total, throughput, ETA, outcomes, and the
teacher's requests, cache hits and spend so far.

While the streaming stage runs, a bar on a terminal (quiet console), otherwise a line every 30 s
through the `recycle.progress` logger; a last line when the stage ends. Short stages (validate,
statistics, report) log one line when they end (`stage_done`).
"""

from __future__ import annotations

import bisect
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow.parquet as pq

from recycle import columns as C
from recycle.logs import PROGRESS_LOGGER
from recycle.rundir import outcome_files
from recycle.storage import filesystem
from recycle.teacher.gate import gate_totals

log = logging.getLogger(PROGRESS_LOGGER)
BAR_REFRESH_S = 1.0


class RowCounter:
    """Rows per outcome in a run directory's part files; each file's footer is read once."""

    def __init__(self, run_dir: str, part_prefix: str = "part"):
        self.run_dir, self.part_prefix = run_dir, part_prefix
        self.fs, _ = filesystem(run_dir)
        self._rows: dict[str, int] = {}

    def counts(self) -> dict[str, int]:
        out = {}
        for outcome in C.OUTCOMES:
            files = outcome_files(self.run_dir, outcome, self.part_prefix)
            for f in files:
                if f not in self._rows:
                    with self.fs.open_input_file(f) as handle:
                        self._rows[f] = pq.read_metadata(handle).num_rows
            out[outcome] = sum(self._rows[f] for f in files)
        return out


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def teacher_part(gate_name: str | None) -> str:
    """`teacher requests N, cache hits N, retries N, cost $X`, or '' without a live gate."""
    if not gate_name:
        return ""
    try:
        t = gate_totals(gate_name)
    except ValueError:  # the gate is gone: the run is ending
        return ""
    return (
        f"teacher requests {t.get('requests', 0)}, cache hits {t.get('cache_hits', 0)}, "
        f"retries {t.get('retries', 0)}, cost ${t.get('cost_usd', 0.0):.4f}"
        + outage_note(t)
        + batches_note(t)
    )


def progress_line(
    run_dir: str,
    gate_name: str | None,
    started: float,
    parts_at_start: int = 0,
    *,
    total: int | None = None,
    rows_at_start: int = 0,
    stage: str = "progress",
    counter: RowCounter | None = None,
    rate_since: tuple[float, int] | None = None,
) -> str:
    """One line: samples written since the start (of `total`), rate, ETA, outcomes, teacher totals.

    The ETA uses the rate since `rate_since` (a time, and the rows done then) where given: a
    recent point (`eta_reference`), so that neither the start-up (actors loading models) nor a
    pace that has changed since (a busier teacher, a pool that grew) skews it.
    `parts_at_start` is accepted for older callers; rows, not files, are counted now.
    """
    rows = (counter or RowCounter(run_dir)).counts()
    done = sum(rows.values()) - rows_at_start
    now = time.monotonic()
    elapsed = max(now - started, 1e-9)
    rate = done / elapsed
    line = f"{stage}: {done}" + (f"/{total} samples" if total else " samples")
    line += f" in {_duration(elapsed)} ({rate:.2f}/s"
    if rate_since is not None and done > rate_since[1] and now > rate_since[0]:
        rate = (done - rate_since[1]) / (now - rate_since[0])  # the recent rate, for the ETA
    if total and rate > 0 and done < total:
        line += f", ETA {_duration(max(total - done, 0) / rate)}"
    line += ") " + ", ".join(f"{o} {n}" for o, n in rows.items())
    teacher = teacher_part(gate_name)
    return f"{line}; {teacher}" if teacher else line


class _Tracker:
    """The state a progress thread reports from."""

    def __init__(
        self,
        run_dir: str,
        gate_name: str | None,
        total: int | None,
        stage: str,
    ):
        self.run_dir, self.gate_name, self.total, self.stage = run_dir, gate_name, total, stage
        self.counter = RowCounter(run_dir)
        self.started = time.monotonic()
        self.at_start = sum(self.counter.counts().values())
        self.history: list[tuple[float, int]] = []  # (time, rows done) since rows appeared

    def observe(self) -> int:
        """Rows done since the start; kept with the time once the first ones appeared."""
        done = sum(self.counter.counts().values()) - self.at_start
        if done > 0:
            self.history.append((time.monotonic(), done))
        return done

    def line(self) -> str:
        self.observe()
        return progress_line(
            self.run_dir, self.gate_name, self.started, total=self.total,
            rows_at_start=self.at_start, stage=self.stage, counter=self.counter,
            rate_since=eta_reference(self.history, time.monotonic()),
        )  # fmt: skip

    def fraction(self) -> float:
        done = self.observe()
        return min(done / self.total, 1.0) if self.total else 0.0


ETA_WINDOW_MIN_S = 60.0
ETA_WINDOW_SHARE = 1 / 3


def eta_reference(history: list[tuple[float, int]], now: float) -> tuple[float, int] | None:
    """The point the ETA's rate is measured from: the first observation in the recent window,
    the last third of the time since rows first appeared (at least a minute). The start-up is
    never in it, and a pace that changed (a busier teacher, a pool that grew) shows within a
    third of the run. `history`: (time, rows done), one every few seconds, oldest first."""
    if not history:
        return None
    window = max(ETA_WINDOW_MIN_S, (now - history[0][0]) * ETA_WINDOW_SHARE)
    i = bisect.bisect_left(history, (now - window, -1))
    return history[min(i, len(history) - 1)]


def outage_note(totals: dict) -> str:
    """The note "teacher unreachable for N s, waiting (limit M s)" while the circuit is not closed."""
    if totals.get("circuit", "closed") == "closed":
        return ""
    return f"; teacher unreachable for {totals['outage_s']:.0f} s, waiting (limit {totals['max_outage_s']:.0f} s)"


@contextmanager
def logged_progress(
    run_dir: str,
    gate_name: str | None,
    every_s: float = 30.0,
    total: int | None = None,
    stage: str = "reflect+score",
    quiet: bool = False,
) -> Iterator[None]:
    """Report progress while the body runs: a bar on a quiet console's terminal (ray.quiet), else
    a line every `every_s` seconds; always a last line when it ends."""
    stop = threading.Event()
    tracker = _Tracker(run_dir, gate_name, total, stage)
    use_bar = quiet and sys.stderr.isatty() and bool(total)
    thread = threading.Thread(
        target=_bar_loop if use_bar else _line_loop,
        args=(stop, tracker, every_s),
        name="recycle-progress",
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        log.info(tracker.line())


OBSERVE_S = 5.0  # between two lines, rows are still counted this often (the ETA's start point)


def _line_loop(stop: threading.Event, tracker: _Tracker, every_s: float) -> None:
    last = time.monotonic()
    while not stop.wait(min(every_s, OBSERVE_S)):
        if time.monotonic() - last < every_s:
            tracker.observe()
            continue
        last = time.monotonic()
        log.info(tracker.line())


def _bar_loop(stop: threading.Event, tracker: _Tracker, every_s: float) -> None:
    """A bar redrawn in place on the terminal, followed by the same text as the logged line."""
    width = 20
    while not stop.wait(BAR_REFRESH_S):
        filled = int(width * tracker.fraction())
        text = f"[{'#' * filled}{'.' * (width - filled)}] {tracker.line()}"
        sys.stderr.write("\r" + text[:160] + "\x1b[K")
        sys.stderr.flush()
    sys.stderr.write("\r\x1b[K")
    sys.stderr.flush()


def stage_done(stage: str, detail: str, seconds: float) -> None:
    """The one line a short stage prints when it ends."""
    log.info(f"{stage}: {detail} in {_duration(seconds)}")


def batches_note(totals: dict) -> str:
    """The batch backend's "batches submitted/in progress/done, oldest N s" (nothing when online)."""
    b = totals.get("batches")
    if not b:
        return ""
    return (
        f"; batches {b['submitted']} submitted, {b['in_progress']} in progress, {b['done']} done"
        f", oldest in progress {b['oldest_age_s']:.0f} s"
    )
