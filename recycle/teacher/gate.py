"""The gate every teacher request passes: one rate limit and one budget for the whole job.

`GateCore` is the pure logic (token buckets + ledger). `LocalGate` uses it in-process (notebooks,
benchmarks, unit tests); on Ray it lives in one named actor, `TeacherGateActor`, that every teacher
actor of the job finds by name (`get_if_exists`), reached through `RayGate`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import ray

from recycle.config.teacher import ModelPrice, TeacherConfig
from recycle.teacher.ledger import Ledger
from recycle.teacher.limits import RateLimiter

NAMESPACE = "recycle"


@dataclass(frozen=True)
class GateSettings:
    """What the gate enforces; built from TeacherConfig, small enough to send to actors."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    burst_s: float = 0.0
    rate_headroom: float = 0.0
    price: ModelPrice | None = None
    max_cost_usd: float | None = None

    @classmethod
    def from_config(cls, cfg: TeacherConfig) -> GateSettings:
        """The gate settings of a teacher config."""
        return cls(
            requests_per_minute=cfg.requests_per_minute,
            tokens_per_minute=cfg.tokens_per_minute,
            burst_s=cfg.burst_s,
            rate_headroom=cfg.rate_headroom,
            price=cfg.price(),
            max_cost_usd=cfg.max_cost_usd,
        )

    @property
    def limits_requests(self) -> bool:
        """Whether requests must ask the gate before going out (a rate limit or a budget is set)."""
        return any(
            v is not None
            for v in (self.requests_per_minute, self.tokens_per_minute, self.max_cost_usd)
        )


class GateCore:
    """Rate limiter and ledger of one job. Calls must be serialized (one actor, or one event loop)."""

    def __init__(self, settings: GateSettings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.limiter = RateLimiter(
            settings.requests_per_minute,
            settings.tokens_per_minute,
            settings.burst_s,
            settings.rate_headroom,
            clock,
        )
        self.ledger = Ledger(settings.price, settings.max_cost_usd)
        self.fatal: tuple[str, str] | None = None

    def reserve(self, tokens: float, cost: float) -> float | None:
        """Reserve a request; the seconds to wait before sending it, or None when over budget."""
        if not self.ledger.reserve(cost):
            return None
        return self.limiter.reserve(tokens)

    def settle(self, counts: dict[str, float], reserved_cost: float, token_refund: float) -> None:
        """Record a request's counters and cost; refund unused reserved tokens to the limiter."""
        self.ledger.settle(counts, reserved_cost)
        if token_refund:
            self.limiter.refund_tokens(token_refund)

    def totals(self) -> dict[str, Any]:
        """The job's accounting so far."""
        return self.ledger.totals()

    def record_fatal(self, kind: str, message: str) -> None:
        """Remember the first error that stops the job, for the driver to report as it was raised."""
        if self.fatal is None:
            self.fatal = (kind, message)


class Gate(Protocol):
    """What a TeacherClient needs from the job-wide gate."""

    settings: GateSettings

    async def reserve(self, tokens: float, cost: float) -> float | None: ...

    def settle(
        self, counts: dict[str, float], reserved_cost: float, token_refund: float
    ) -> None: ...

    async def flush(self) -> None: ...

    async def totals(self) -> dict[str, Any]: ...

    async def record_fatal(self, kind: str, message: str) -> None: ...


class LocalGate:
    """The gate in this process (one event loop): for notebooks, benchmarks and tests."""

    def __init__(self, settings: GateSettings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.core = GateCore(settings, clock)

    async def reserve(self, tokens: float, cost: float) -> float | None:
        return self.core.reserve(tokens, cost)

    def settle(self, counts: dict[str, float], reserved_cost: float, token_refund: float) -> None:
        self.core.settle(counts, reserved_cost, token_refund)

    async def flush(self) -> None:
        return None

    async def totals(self) -> dict[str, Any]:
        return self.core.totals()

    async def record_fatal(self, kind: str, message: str) -> None:
        self.core.record_fatal(kind, message)


@ray.remote(num_cpus=0)
class TeacherGateActor:
    """The job's gate as a named Ray actor: calls are serialized by the actor."""

    def __init__(self, settings: GateSettings):
        self.core = GateCore(settings)

    def reserve(self, tokens: float, cost: float) -> float | None:
        return self.core.reserve(tokens, cost)

    def settle(self, counts: dict[str, float], reserved_cost: float, token_refund: float) -> None:
        self.core.settle(counts, reserved_cost, token_refund)

    def totals(self) -> dict[str, Any]:
        return self.core.totals()

    def record_fatal(self, kind: str, message: str) -> None:
        self.core.record_fatal(kind, message)

    def fatal(self) -> tuple[str, str] | None:
        return self.core.fatal


def job_gate_actor(name: str, settings: GateSettings) -> ray.actor.ActorHandle:
    """The named gate actor of a job, created by whoever asks first."""
    return TeacherGateActor.options(name=name, namespace=NAMESPACE, get_if_exists=True).remote(
        settings
    )


class RayGate:
    """Client side of the gate actor.

    Settlements that release a reservation (a rate limit or a budget is set) go out at once, so
    the job-wide state stays current; plain counters are summed here and sent on `flush`, so an
    unlimited job does not pay one actor call per request.
    """

    def __init__(self, name: str, settings: GateSettings):
        self.settings = settings
        self.handle = job_gate_actor(name, settings)
        self._pending: list[ray.ObjectRef] = []
        self._counts: Counter[str] = Counter()

    async def reserve(self, tokens: float, cost: float) -> float | None:
        return await self.handle.reserve.remote(tokens, cost)

    def settle(self, counts: dict[str, float], reserved_cost: float, token_refund: float) -> None:
        if reserved_cost or token_refund:
            self._pending.append(self.handle.settle.remote(counts, reserved_cost, token_refund))
        else:
            self._counts.update(counts)

    async def flush(self) -> None:
        """Send the summed counters and wait until every settlement reached the gate actor."""
        if self._counts:
            counts, self._counts = dict(self._counts), Counter()
            self._pending.append(self.handle.settle.remote(counts, 0.0, 0.0))
        pending, self._pending = self._pending, []
        for ref in pending:
            await ref

    async def totals(self) -> dict[str, Any]:
        await self.flush()
        return await self.handle.totals.remote()

    async def record_fatal(self, kind: str, message: str) -> None:
        await self.handle.record_fatal.remote(kind, message)


def gate_totals(name: str) -> dict[str, Any]:
    """The totals of a job's gate actor, from the driver."""
    return ray.get(ray.get_actor(name, namespace=NAMESPACE).totals.remote())


def remove_gate(name: str) -> None:
    """Kill a job's gate actor (after its totals were read)."""
    try:
        ray.kill(ray.get_actor(name, namespace=NAMESPACE))
    except ValueError:  # not found: never created, or already gone
        return
