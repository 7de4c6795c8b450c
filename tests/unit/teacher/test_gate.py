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
