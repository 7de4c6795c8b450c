"""Job-wide endpoint health: a circuit breaker over the teacher's transient failures. Pure, no I/O.

    closed ──(`open_after` transient failures in a row, job-wide)──► open
    open ──(probe delay elapsed: the next request to ask is the probe)──► half-open
    half-open ──(any answer)──► closed        half-open ──(the probe failed)──► open, delay doubled
    open / half-open ──(outage longer than `max_outage_s`)──► stopped (every request is told to stop)

While the circuit is not closed, requests wait for it instead of spending their retries, so an
outage costs time, not samples. The outage is timed from the first failure of the streak that
opened the circuit. One instance lives in the job's gate (calls serialized), on an injectable clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
STOPPED = "stopped"


@dataclass(frozen=True)
class Admission:
    """What a request is told: send now (as the probe or not), wait and ask again, or stop."""

    wait_s: float = 0.0
    probe: bool = False
    stop: bool = False
    outage_s: float = 0.0

    @property
    def go(self) -> bool:
        """Send now."""
        return self.wait_s <= 0.0 and not self.stop


GO = Admission()


@dataclass(frozen=True)
class CircuitSettings:
    """When the circuit opens, how it probes, and how long an outage may last."""

    open_after: int = 5
    max_outage_s: float = 600.0
    probe_base_s: float = 1.0
    probe_max_s: float = 10.0
    probe_timeout_s: float = 120.0
    poll_s: float = 1.0


class Circuit:
    """The state machine; `admit` before a request, `failed` / `succeeded` after it."""

    def __init__(self, settings: CircuitSettings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self._clock = clock
        self.state = CLOSED
        self.streak = 0  # transient failures since the last answer
        self.streak_started: float | None = None
        self.probe_delay = settings.probe_base_s
        self.next_probe_at = 0.0
        self.probe_sent_at: float | None = None
        self.outages = 0  # times the circuit opened
        self.longest_outage_s = 0.0

    def outage_s(self) -> float:
        """Seconds since the failure streak began, while the circuit is not closed; else 0."""
        if self.state == CLOSED or self.streak_started is None:
            return 0.0
        return self._clock() - self.streak_started

    def admit(self) -> Admission:
        """May a request go out now?"""
        if self.state == CLOSED:
            return GO
        if self._past_limit():
            return self._stopped()
        now = self._clock()
        if self.state == HALF_OPEN and now - (self.probe_sent_at or now) > self._probe_timeout():
            self.state = OPEN  # the probe never reported (cancelled, actor died): send another
        if self.state == OPEN and now >= self.next_probe_at:
            self.state, self.probe_sent_at = HALF_OPEN, now
            return Admission(probe=True, outage_s=self.outage_s())
        wait = self.next_probe_at - now if self.state == OPEN else self.settings.poll_s
        return Admission(wait_s=max(wait, 0.01), outage_s=self.outage_s())

    def failed(self, probe: bool = False) -> Admission:
        """Record a transient failure; the answer says whether it counts as the request's retry.

        `GO` (closed, no outage): the request retries as usual, spending one of its retries.
        Otherwise the request goes back to `admit` and waits, its retries untouched.
        """
        now = self._clock()
        self.streak += 1
        if self.streak_started is None:
            self.streak_started = now
        if self.state == CLOSED and self.streak >= self.settings.open_after:
            self.outages += 1
            self._open(now, self.settings.probe_base_s)
        elif self.state == HALF_OPEN and probe:
            self._open(now, min(self.probe_delay * 2.0, self.settings.probe_max_s))
        if self.state == CLOSED:
            return GO
        if self._past_limit():
            return self._stopped()
        return Admission(wait_s=max(self.next_probe_at - now, 0.01), outage_s=self.outage_s())

    def succeeded(self) -> None:
        """An answer came back: the endpoint is up."""
        if self.state == STOPPED:
            return
        self.longest_outage_s = max(self.longest_outage_s, self.outage_s())
        self.state, self.streak, self.streak_started = CLOSED, 0, None
        self.probe_delay, self.probe_sent_at = self.settings.probe_base_s, None

    def status(self) -> dict[str, Any]:
        """For the progress line and the manifest."""
        return {
            "circuit": self.state,
            "outage_s": round(self.outage_s(), 1),
            "max_outage_s": self.settings.max_outage_s,
            "outages": self.outages,
            "longest_outage_s": round(max(self.longest_outage_s, self.outage_s()), 1),
        }

    def _open(self, now: float, delay: float) -> None:
        self.state, self.probe_delay, self.probe_sent_at = OPEN, delay, None
        self.next_probe_at = now + delay

    def _probe_timeout(self) -> float:
        return self.settings.probe_timeout_s + self.probe_delay

    def _past_limit(self) -> bool:
        return self.state == STOPPED or self.outage_s() > self.settings.max_outage_s

    def _stopped(self) -> Admission:
        if self.state != STOPPED:
            self.longest_outage_s = max(self.longest_outage_s, self.outage_s())
            self.state = STOPPED
        return Admission(stop=True, outage_s=self.longest_outage_s)
