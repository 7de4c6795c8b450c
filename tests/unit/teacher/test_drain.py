"""The graceful stop's parts without Ray: what is in flight, the gate's board, the driver's handler."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from recycle.teacher.drain import STALE_S, DrainBoard, InFlight, drain_on_interrupt


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_in_flight_counts_keys_sent_and_not_landed() -> None:
    flying = InFlight()
    flying.sent("a")
    flying.sent("b")
    flying.sent("a")  # a retry of the same request is one request in flight
    assert len(flying) == 2
    flying.landed("a")
    flying.landed("never-sent")
    assert len(flying) == 1


def test_the_board_waits_for_each_live_actor_to_report_nothing_in_flight() -> None:
    clock = Clock()
    board = DrainBoard(clock)
    assert board.heartbeat("a", 3) is False and board.heartbeat("b", 0) is False
    board.heartbeat("gone", 2)
    clock.now += STALE_S + 1  # "gone" stops reporting: it died before the stop
    board.heartbeat("a", 3)
    board.heartbeat("b", 0)
    assert board.unlanded() == 0  # no stop yet
    clock.now += 0.1
    board.drain()
    # a's 3 requests, and b alive at the stop but not heard from since (1)
    assert board.unlanded() == 3 + 1
    clock.now += 0.5
    assert board.heartbeat("b", 0) is True  # told to hold
    assert board.unlanded() == 3
    assert board.heartbeat("a", 1) is True
    assert board.unlanded() == 1
    board.heartbeat("a", 0)
    assert board.unlanded() == 0


def test_the_first_ctrl_c_drains_then_interrupts_a_second_stops_at_once(monkeypatch) -> None:
    drained = threading.Event()
    release = threading.Event()

    def fake_wait(gate, timeout_s):
        drained.set()
        release.wait(5)
        return 0

    monkeypatch.setattr("recycle.teacher.drain.wait_for_landing", fake_wait)
    interrupted = []
    with drain_on_interrupt(object(), 5.0, main=lambda: interrupted.append(time.monotonic())):
        os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C: no KeyboardInterrupt yet
        assert drained.wait(5)
        assert not interrupted
        release.set()
        deadline = time.monotonic() + 5
        while not interrupted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert interrupted  # then the main thread is interrupted
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C: at once
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
