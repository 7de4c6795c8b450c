"""The endpoint-health circuit on a fake clock: closed, open, half-open probing with backoff, stop."""

from __future__ import annotations

import pytest

from recycle.teacher.circuit import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    STOPPED,
    Circuit,
    CircuitSettings,
)

SETTINGS = CircuitSettings(
    open_after=3, max_outage_s=100.0, probe_base_s=1.0, probe_max_s=4.0, probe_timeout_s=10.0
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def circuit() -> tuple[Circuit, FakeClock]:
    clock = FakeClock()
    return Circuit(SETTINGS, clock), clock


def test_failures_below_the_threshold_spend_retries_and_an_answer_resets_the_streak() -> None:
    c, clock = circuit()
    assert c.failed().go and c.failed().go  # 2 < 3: still closed, each failure is a retry
    c.succeeded()
    assert c.failed().go and c.failed().go and c.state == CLOSED
    clock.now += 5
    verdict = c.failed()  # the third in a row opens the circuit
    assert not verdict.go and verdict.wait_s == pytest.approx(1.0)
    assert c.state == OPEN and c.outages == 1 and c.outage_s() == pytest.approx(5.0)


def open_circuit() -> tuple[Circuit, FakeClock]:
    c, clock = circuit()
    for _ in range(3):
        c.failed()
    assert c.state == OPEN
    return c, clock


def test_open_circuit_makes_requests_wait_then_admits_exactly_one_probe() -> None:
    c, clock = open_circuit()
    first = c.admit()
    assert not first.go and first.wait_s == pytest.approx(1.0)
    clock.now += 1.0
    probe = c.admit()
    assert probe.go and probe.probe and c.state == HALF_OPEN
    others = [c.admit() for _ in range(5)]  # while the probe is out, everyone else waits
    assert all(not a.go and a.wait_s == SETTINGS.poll_s for a in others)
    c.succeeded()
    assert c.state == CLOSED and c.admit().go and c.streak == 0 and c.outage_s() == 0.0


def test_failed_probes_back_off_doubling_up_to_the_cap() -> None:
    c, clock = open_circuit()
    delays = []
    for _ in range(5):
        wait = c.admit().wait_s
        delays.append(wait)
        clock.now += wait
        assert c.admit().probe
        c.failed(probe=True)
    assert delays == pytest.approx([1.0, 2.0, 4.0, 4.0, 4.0])
    assert c.state == OPEN and c.outages == 1  # still the same outage


def test_a_late_failure_of_a_request_sent_before_the_outage_is_not_a_probe_failure() -> None:
    c, clock = open_circuit()
    clock.now += 1.0
    assert c.admit().probe
    assert not c.failed(probe=False).go  # an old request timing out: it waits, no retry spent
    assert c.state == HALF_OPEN  # the probe's own result decides
    c.succeeded()
    assert c.state == CLOSED


def test_a_lost_probe_is_replaced_after_the_probe_timeout() -> None:
    c, clock = open_circuit()
    clock.now += 1.0
    assert c.admit().probe
    clock.now += SETTINGS.probe_timeout_s + 0.5
    assert not c.admit().probe  # not yet: timeout + delay
    clock.now += 1.0
    assert c.admit().probe


def test_an_outage_past_the_limit_stops_everyone_and_stays_stopped() -> None:
    c, clock = open_circuit()
    clock.now += 100.5
    verdict = c.admit()
    assert verdict.stop and not verdict.go and verdict.outage_s == pytest.approx(100.5)
    assert c.state == STOPPED
    assert c.failed().stop and c.admit().stop
    c.succeeded()  # a late answer does not restart a stopped job
    assert c.admit().stop
    assert c.status()["circuit"] == STOPPED


def test_status_reports_the_outage_for_the_progress_line() -> None:
    c, clock = open_circuit()
    clock.now += 42.0
    status = c.status()
    assert status["circuit"] == OPEN and status["outage_s"] == pytest.approx(42.0)
    assert status["max_outage_s"] == 100.0 and status["outages"] == 1
    clock.now += 1.0
    assert c.admit().probe
    c.succeeded()
    assert c.status()["longest_outage_s"] == pytest.approx(43.0) and c.status()["outage_s"] == 0
