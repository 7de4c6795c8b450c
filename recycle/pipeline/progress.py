"""A progress line in the job log while the pipeline streams: rows written and their rate per
outcome, teacher requests, cache hits and cost so far (Ray Data prints its per-operator
progress next to it)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from recycle import columns as C
from recycle.rundir import outcome_files
from recycle.teacher.gate import gate_totals

log = logging.getLogger(__name__)


def progress_line(run_dir: str, gate_name: str | None, started: float, parts_at_start: int) -> str:
    """One line: part files written per outcome since the start, and the teacher's totals."""
    parts = {o: len(outcome_files(run_dir, o, "part")) for o in C.OUTCOMES}
    elapsed = max(time.monotonic() - started, 1e-9)
    written = sum(parts.values()) - parts_at_start
    line = f"progress: {written} part files written in {elapsed:.0f}s ({written / elapsed * 60:.1f}/min) {parts}"
    if gate_name:
        try:
            t = gate_totals(gate_name)
        except ValueError:  # the gate is gone: the run is ending
            return line
        line += f"; teacher requests {t.get('requests', 0)}, cache hits {t.get('cache_hits', 0)}, retries {t.get('retries', 0)}, cost ${t.get('cost_usd', 0.0):.4f}"
        line += outage_note(t)
        line += batches_note(t)
    return line


def outage_note(totals: dict) -> str:
    """The note "teacher unreachable for N s, waiting (limit M s)" while the circuit is not closed."""
    if totals.get("circuit", "closed") == "closed":
        return ""
    return f"; teacher unreachable for {totals['outage_s']:.0f} s, waiting (limit {totals['max_outage_s']:.0f} s)"


@contextmanager
def logged_progress(run_dir: str, gate_name: str | None, every_s: float = 30.0) -> Iterator[None]:
    """Log a progress line every `every_s` seconds while the body runs."""
    stop = threading.Event()
    started = time.monotonic()
    at_start = sum(len(outcome_files(run_dir, o, "part")) for o in C.OUTCOMES)

    def loop() -> None:
        while not stop.wait(every_s):
            log.info(progress_line(run_dir, gate_name, started, at_start))

    thread = threading.Thread(target=loop, name="recycle-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def batches_note(totals: dict) -> str:
    """The batch backend's "batches submitted/in progress/done, oldest N s" (nothing when online)."""
    b = totals.get("batches")
    if not b:
        return ""
    return (
        f"; batches {b['submitted']} submitted, {b['in_progress']} in progress, {b['done']} done"
        f", oldest in progress {b['oldest_age_s']:.0f} s"
    )
