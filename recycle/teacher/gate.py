"""The gate every teacher request passes: one rate limit, one budget, one endpoint health per job.

`GateCore` is the pure logic (token buckets + ledger + circuit breaker). `LocalGate` uses it in-process (notebooks,
benchmarks, unit tests); on Ray it lives in one named actor, `TeacherGateActor`, that every teacher
actor of the job finds by name (`get_if_exists`), reached through `RayGate`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import ray

from recycle.config.teacher import ModelPrice, TeacherConfig
from recycle.teacher.circuit import GO, Admission, Circuit, CircuitSettings
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
    prior_cost_usd: float = 0.0  # spent by earlier invocations of a resumed run (budget only)
    circuit: CircuitSettings = CircuitSettings()

    @classmethod
    def from_config(cls, cfg: TeacherConfig, prior_cost_usd: float = 0.0) -> GateSettings:
        """The gate settings of a teacher config."""
        return cls(
            requests_per_minute=cfg.requests_per_minute,
            tokens_per_minute=cfg.tokens_per_minute,
            burst_s=cfg.burst_s,
            rate_headroom=cfg.rate_headroom,
            price=cfg.price(),
            max_cost_usd=cfg.max_cost_usd,
            prior_cost_usd=prior_cost_usd,
            circuit=CircuitSettings(
                open_after=cfg.outage_after_failures,
                max_outage_s=cfg.max_outage_s,
                probe_base_s=cfg.backoff_base_s,
                probe_max_s=cfg.probe_max_s,
                probe_timeout_s=cfg.timeout_s,
            ),
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
        self.ledger = Ledger(settings.price, settings.max_cost_usd, settings.prior_cost_usd)
        self.circuit = Circuit(settings.circuit, clock)
        self.fatal: tuple[str, str] | None = None
        self.batches = BatchBoard()

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
        """The job's accounting so far, the endpoint's health, and batches (batch backend)."""
        return {**self.ledger.totals(), **self.circuit.status(), **self.batches.totals()}

    def record_fatal(self, kind: str, message: str) -> None:
        """Remember the first error that stops the job, for the driver to report as it was raised."""
        if self.fatal is None:
            self.fatal = (kind, message)


class BatchBoard:
    """Batches of the batch backend, job-wide: which are open since when (wall clock), how many done."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.open: dict[str, float] = {}
        self.done: set[str] = set()

    def event(self, batch_id: str, opened_at: float | None) -> None:
        """A batch opened (submitted, or picked up again by a rerun) or closed (None)."""
        if opened_at is None:
            self.open.pop(batch_id, None)
            self.done.add(batch_id)
        elif batch_id not in self.done:
            self.open[batch_id] = opened_at

    def totals(self) -> dict[str, Any]:
        """{"batches": {...}} once a batch was seen, else nothing (online backend)."""
        if not self.open and not self.done:
            return {}
        oldest = max((self.clock() - t for t in self.open.values()), default=0.0)
        return {
            "batches": {
                "submitted": len(self.open) + len(self.done),
                "in_progress": len(self.open),
                "done": len(self.done),
                "oldest_age_s": round(oldest, 1),
            }
        }


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

    async def admit(self) -> Admission: ...

    async def failed(self, probe: bool) -> Admission: ...

    async def succeeded(self, probe: bool) -> None: ...

    def batch_event(self, batch_id: str, opened_at: float | None) -> None: ...


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

    async def admit(self) -> Admission:
        return self.core.circuit.admit()

    async def failed(self, probe: bool) -> Admission:
        return self.core.circuit.failed(probe)

    async def succeeded(self, probe: bool) -> None:
        self.core.circuit.succeeded()

    def batch_event(self, batch_id: str, opened_at: float | None) -> None:
        self.core.batches.event(batch_id, opened_at)


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

    def admit(self) -> Admission:
        return self.core.circuit.admit()

    def failed(self, probe: bool) -> Admission:
        return self.core.circuit.failed(probe)

    def succeeded(self) -> None:
        self.core.circuit.succeeded()

    def batch_event(self, batch_id: str, opened_at: float | None) -> None:
        self.core.batches.event(batch_id, opened_at)


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

    Endpoint health costs no actor call while all is well: failures are reported at once, an
    answer only when this actor saw a failure since its last report, and admission is asked of
    the gate only while this actor knows the circuit is not closed (one call per wait, shared by
    the requests waiting here).
    """

    def __init__(self, name: str, settings: GateSettings):
        self.settings = settings
        self.handle = job_gate_actor(name, settings)
        self._pending: list[ray.ObjectRef] = []
        self._counts: Counter[str] = Counter()
        self._open = False  # this actor knows the circuit is not closed: ask before sending
        self._failed_since = False  # a failure reported since the last answer reported
        self._wait_until = 0.0  # a wait the gate asked for, shared by this actor's requests
        self._health_lock = asyncio.Lock()

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

    async def admit(self) -> Admission:
        if not self._open:
            return GO
        async with self._health_lock:
            now = time.monotonic()
            if now < self._wait_until:
                return Admission(wait_s=self._wait_until - now)
            return self._learn(await self.handle.admit.remote())

    async def failed(self, probe: bool) -> Admission:
        self._failed_since = True
        verdict = self._learn(await self.handle.failed.remote(probe))
        self._open = not verdict.go
        return verdict

    async def succeeded(self, probe: bool) -> None:
        if self._failed_since or self._open or probe:
            self._open = self._failed_since = False
            self._wait_until = 0.0
            await self.handle.succeeded.remote()

    def batch_event(self, batch_id: str, opened_at: float | None) -> None:
        self._pending.append(self.handle.batch_event.remote(batch_id, opened_at))

    def _learn(self, verdict: Admission) -> Admission:
        if verdict.wait_s > 0:
            self._wait_until = time.monotonic() + verdict.wait_s
        elif verdict.go and not verdict.probe:
            self._open = False  # the circuit is closed again
        return verdict


def gate_totals(name: str) -> dict[str, Any]:
    """The totals of a job's gate actor, from the driver."""
    return ray.get(ray.get_actor(name, namespace=NAMESPACE).totals.remote())
