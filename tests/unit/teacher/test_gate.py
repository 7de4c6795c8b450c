"""The gate's interface is written once (`Gate`) and every implementation keeps its signatures."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from recycle.teacher.circuit import CircuitSettings
from recycle.teacher.gate import GATE_CALLS, Gate, GateCore, GateSettings, LocalGate, RayGate


def params(fn) -> list[str]:
    """Parameter names, less self and what Ray adds to an actor class's methods (tracing)."""
    return [p for p in inspect.signature(fn).parameters if p not in ("self", "_ray_trace_ctx")]


def test_the_interface_has_its_eleven_calls():
    assert set(GATE_CALLS) == {
        "reserve", "settle", "flush", "totals", "record_fatal",
        "admit", "failed", "succeeded", "batch_event", "follow", "hold",
    }  # fmt: skip
    assert GATE_CALLS["reserve"] and not GATE_CALLS["settle"] and not GATE_CALLS["batch_event"]
    assert GATE_CALLS["hold"] and not GATE_CALLS["follow"]


@pytest.mark.parametrize("name", sorted(GATE_CALLS))
def test_core_and_ray_client_take_what_the_interface_says(name):
    wanted = params(getattr(Gate, name))
    assert params(getattr(GateCore, name)) == wanted  # the actor is the core itself
    client = getattr(RayGate, name)
    assert params(client) == wanted
    assert inspect.iscoroutinefunction(client) == GATE_CALLS[name]


def test_a_local_gate_answers_every_call_as_awaited_or_not():
    gate = LocalGate(GateSettings(circuit=CircuitSettings(open_after=1, probe_base_s=60.0)))

    async def use() -> dict:
        assert await gate.reserve(10.0, 0.0) == 0.0
        gate.settle({"requests": 1}, 0.0, 0.0)
        await gate.flush()
        gate.batch_event("b1", 1.0)
        assert not (await gate.failed(False)).go  # one failure opens this circuit
        assert (await gate.admit()).wait_s > 0
        await gate.succeeded(True)
        assert (await gate.admit()).go
        await gate.record_fatal("TeacherAuthError", "bad key")
        return await gate.totals()

    totals = asyncio.run(use())
    assert totals["requests"] == 1 and totals["batches"]["submitted"] == 1
    assert gate.core.fatal() == ("TeacherAuthError", "bad key")
    with pytest.raises(AttributeError):
        gate.not_a_gate_call  # noqa: B018


class FakeMethod:
    """An actor method: `.remote(...)` records the call and returns an awaitable result."""

    def __init__(self, calls: list, name: str, result=None):
        self.calls, self.name, self.result = calls, name, result

    def remote(self, *args):
        self.calls.append((self.name, *args))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(self.result)
        return fut


class FakeGateHandle:
    def __init__(self):
        self.calls: list = []
        for name in ("hold", "settle", "reserve", "heartbeat"):
            setattr(self, name, FakeMethod(self.calls, name, 0.0 if name == "reserve" else None))


def ray_gate(settings: GateSettings) -> tuple[RayGate, FakeGateHandle]:
    gate = RayGate.__new__(RayGate)
    handle = FakeGateHandle()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("recycle.teacher.gate.find_gate", lambda name: handle)
        RayGate.__init__(gate, "g", settings)
    gate._heartbeat = object()  # as after the first request: no heartbeat task here
    gate._holding = False
    return gate, handle


def test_the_ray_client_tells_the_gate_of_each_request_before_it_leaves_and_settles_it_at_once():
    """Nothing a request paid waits in the actor: a node lost after the answer loses no count."""
    gate, handle = ray_gate(GateSettings())  # no limits: no reservation call

    async def one_request() -> None:
        await gate.hold()
        gate.settle({"requests": 1, "prompt_tokens": 5}, 0.0, 0.0)
        gate.settle({"cache_writes": 1}, 0.0, 0.0)  # not paid: summed here until flush

    asyncio.run(one_request())
    assert handle.calls == [("hold",), ("settle", {"requests": 1, "prompt_tokens": 5}, 0.0, 0.0)]


def test_with_a_budget_the_reservation_counts_the_request_and_hold_calls_nothing():
    gate, handle = ray_gate(GateSettings(max_cost_usd=1.0))

    async def one_request() -> None:
        await gate.hold()
        assert await gate.reserve(0.0, 0.1) == 0.0

    asyncio.run(one_request())
    assert handle.calls == [("reserve", 0.0, 0.1)]


def test_a_client_whose_raylet_is_gone_sends_nothing_more(monkeypatch):
    """Killed with its Ray, a driver leaves its teacher actors alive for about a second: they must
    not pay for answers that no count will see (tests/integration/pipeline/test_resume.py)."""
    gate, handle = ray_gate(GateSettings())

    async def one_request() -> bool:
        try:
            await asyncio.wait_for(gate.hold(), timeout=0.2)
        except TimeoutError:
            return False
        return True

    assert asyncio.run(one_request())
    monkeypatch.setattr("recycle.teacher.gate.os.getppid", lambda: gate._parent + 1)
    assert not asyncio.run(one_request())
    assert handle.calls == [("hold",)]  # the first request only
