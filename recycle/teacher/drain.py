"""A graceful stop: on Ctrl-C, what the teacher already answered lands in the cache first.

A request in flight when the user interrupts a run is paid for the moment the endpoint answers.
Killed at once, the job loses that answer and a rerun pays for it again. So the first Ctrl-C
(SIGINT) does not stop the driver at once: it tells the job's gate to hold every new request
(`DrainBoard.drain`), waits until each teacher actor reports nothing in flight, that is every
answer sent for is cached (`DrainBoard.unlanded`), at most `teacher.timeout_s`, and only then
raises KeyboardInterrupt in the driver. A second Ctrl-C stops at once.

Three parts: `InFlight` (the keys a teacher client has sent and not yet cached), `DrainBoard`
(the gate actor's view: each actor's last report), and `drain_on_interrupt` (the driver's handler).
"""

from __future__ import annotations

import _thread
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)
HEARTBEAT_S = 0.5  # how often a teacher actor reports to the gate what it has in flight
STALE_S = 10.0  # an actor silent this long before the stop is gone (a loaded node lags)
POLL_S = 0.2


class InFlight:
    """Request keys sent to the endpoint whose answers are not in the cache yet."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def sent(self, key: str) -> None:
        self.keys.add(key)

    def landed(self, key: str) -> None:
        """The answer is cached, or the attempt failed (a retry is sent again, and added again)."""
        self.keys.discard(key)

    def __len__(self) -> int:
        return len(self.keys)


class DrainBoard:
    """The gate's record of the actors' reports, and whether the job is stopping."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.since: float | None = None  # when the stop began
        self.reports: dict[str, tuple[float, int]] = {}  # actor -> (when, requests in flight)

    def heartbeat(self, actor: str, in_flight: int) -> bool:
        """An actor's report; whether it must hold its new requests."""
        self.reports[actor] = (self.clock(), in_flight)
        return self.since is not None

    def drain(self) -> None:
        if self.since is None:
            self.since = self.clock()

    def unlanded(self) -> int:
        """Requests still in flight, and actors alive at the stop that have not reported since
        (one each): 0 once every answer sent for is cached."""
        if self.since is None:
            return 0
        left = 0
        for when, in_flight in self.reports.values():
            if when < self.since - STALE_S:
                continue  # gone before the stop, or idle: nothing in flight to wait for
            left += in_flight if when >= self.since else max(in_flight, 1)
        return left


@contextmanager
def drain_on_interrupt(
    gate: Any, timeout_s: float, main: Callable[[], None] = _thread.interrupt_main
) -> Iterator[None]:
    """While held (in the driver's main thread), the first SIGINT drains the teacher, then
    interrupts; a second one interrupts at once. Elsewhere (a thread, a notebook cell run
    in a worker) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = threading.Event()

    def drain_then_interrupt() -> None:
        try:
            wait_for_landing(gate, timeout_s)
        finally:
            main()

    def on_sigint(signum: int, frame: Any) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()
        threading.Thread(target=drain_then_interrupt, name="teacher-drain", daemon=True).start()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_for_landing(gate: Any, timeout_s: float) -> int:
    """Hold new requests, wait until the answers in flight are cached (at most `timeout_s`);
    the requests still in flight when it gave up."""
    import ray

    ray.get(gate.drain.remote())
    time.sleep(HEARTBEAT_S + POLL_S)  # every live actor has reported since: the count is current
    left = ray.get(gate.unlanded.remote())
    if left:
        log.warning(
            "interrupted: waiting up to %.0f s for %d teacher request(s) in flight to land in the "
            "cache, so that a rerun does not pay for them again (Ctrl-C again to stop now)",
            timeout_s,
            left,
        )
    deadline = time.monotonic() + timeout_s
    while left and time.monotonic() < deadline:
        time.sleep(POLL_S)
        left = ray.get(gate.unlanded.remote())
    if left:
        log.warning("stopping with %d teacher request(s) still in flight", left)
    return left
