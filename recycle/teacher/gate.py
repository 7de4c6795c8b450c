"""The gate every teacher request passes: one rate limit, one budget, one endpoint health per job.

The interface is written once, as the `Gate` protocol, and implemented once, by `GateCore` (token
buckets + ledger + circuit breaker, synchronous). `LocalGate` awaits the core in-process
(notebooks, benchmarks, unit tests). On Ray the core is the job's named actor, `TeacherGateActor`,
which the driver creates on its own node (as Ray Train places its controller), so losing a worker
node never loses the job's budget, rate state or circuit; teacher actors reach it through
`RayGate`, the one client with logic of its own (cache counters batched, cheap health reports).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from recycle.config.teacher import ModelPrice, TeacherConfig
from recycle.teacher.circuit import GO, Admission, Circuit, CircuitSettings
from recycle.teacher.drain import HEARTBEAT_S, DrainBoard, InFlight
from recycle.teacher.ledger import REQUESTS, Ledger
from recycle.teacher.limits import RateLimiter
from recycle.teacher.write_ahead import Persist, WriteAhead

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
    """What a TeacherClient needs from the job-wide gate: the interface, written once."""

    settings: GateSettings

    async def reserve(self, tokens: float, cost: float) -> float | None:
        """Reserve a request; the seconds to wait before sending it, or None when over budget."""

    def settle(self, counts: dict[str, float], reserved_cost: float, token_refund: float) -> None:
        """Record a request's counters and cost; refund unused reserved tokens to the limiter."""

    async def flush(self) -> None:
        """Make every settlement so far reach the gate."""

    async def totals(self) -> dict[str, Any]:
        """The job's accounting so far, the endpoint's health, and batches (batch backend)."""

    async def record_fatal(self, kind: str, message: str) -> None:
        """Remember the first error that stops the job, for the driver to report as raised."""

    async def admit(self) -> Admission:
        """May a request go now (as the probe or not), wait, or must the job stop."""

    async def failed(self, probe: bool) -> Admission:
        """A transient failure of the endpoint (the probe's, when `probe`)."""

    async def succeeded(self, probe: bool) -> None:
        """An answer from the endpoint."""

    def batch_event(self, batch_id: str, opened_at: float | None) -> None:
        """A batch opened (submitted, or picked up again by a rerun) or closed (None)."""

    def follow(self, in_flight: InFlight) -> None:
        """Report what this client has in flight, so a graceful stop can wait for it to land."""

    async def hold(self) -> None:
        """Return once a request may leave: at once, unless the job is stopping (then never).

        Called right before each request is sent (then `reserve`, when a rate limit or a budget
        is set): the gate counts the request as sent here or there, before it leaves, so a
        request whose settlement never comes is still counted (recycle.teacher.ledger)."""


# Each call of the interface, and whether callers await it.
GATE_CALLS = {
    name: inspect.iscoroutinefunction(fn)
    for name, fn in vars(Gate).items()
    if inspect.isfunction(fn) and not name.startswith("_")
}


class GateCore:
    """The gate's one implementation. Calls must be serialized (one actor, or one event loop)."""

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
        self.first_fatal: tuple[str, str] | None = None
        self.batches = BatchBoard()
        self.stop = DrainBoard(clock)

    def reserve(self, tokens: float, cost: float) -> float | None:
        if not self.ledger.reserve(cost):
            return None
        self.ledger.sent()  # the request leaves once its wait is over
        return self.limiter.reserve(tokens)

    def settle(self, counts: dict[str, float], reserved_cost: float, token_refund: float) -> None:
        self.ledger.settle(counts, reserved_cost)
        if token_refund:
            self.limiter.refund_tokens(token_refund)

    def flush(self) -> None:
        return None  # settlements reach the core as they are made

    def totals(self) -> dict[str, Any]:
        return {**self.ledger.totals(), **self.circuit.status(), **self.batches.totals()}

    def record_fatal(self, kind: str, message: str) -> None:
        if self.first_fatal is None:
            self.first_fatal = (kind, message)

    def admit(self) -> Admission:
        return self.circuit.admit()

    def failed(self, probe: bool) -> Admission:
        return self.circuit.failed(probe)

    def succeeded(self, probe: bool) -> None:
        self.circuit.succeeded()

    def batch_event(self, batch_id: str, opened_at: float | None) -> None:
        self.batches.event(batch_id, opened_at)

    def follow(self, in_flight: InFlight) -> None:
        return None  # in one process there is nothing to drain from elsewhere

    def hold(self) -> None:
        if not self.settings.limits_requests:  # no reservation follows: the request leaves now
            self.ledger.sent()

    def fatal(self) -> tuple[str, str] | None:
        """The first error that stopped the job (kind, message), for the driver."""
        return self.first_fatal

    # --- a graceful stop (recycle.teacher.drain): the driver and the actors' heartbeats ---
    def drain(self) -> None:
        """Hold every new request from now on (the driver was interrupted)."""
        self.stop.drain()

    def heartbeat(self, actor: str, in_flight: int) -> bool:
        """An actor's requests in flight; whether it must hold new ones."""
        return self.stop.heartbeat(actor, in_flight)

    def unlanded(self) -> int:
        """Requests sent before the stop whose answers are not cached yet (0 once drained)."""
        return self.stop.unlanded()


class LocalGate:
    """The gate in this process (one event loop): `GateCore`'s calls, awaited as `Gate` says."""

    def __init__(self, settings: GateSettings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.core = GateCore(settings, clock)

    def __getattr__(self, name: str) -> Any:
        if name not in GATE_CALLS:
            raise AttributeError(name)
        method = getattr(self.core, name)
        if not GATE_CALLS[name]:
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


@ray.remote(num_cpus=0)
class TeacherGateActor(GateCore):
    """The job's gate as a named Ray actor: the core itself, its calls serialized by the actor
    (one event loop; the core's calls never await).

    With `persist` (the invocation's journal), a request is on record before it leaves: `hold`
    and `reserve` return once a write of the totals that count it has finished (write_ahead).
    Settlements (tokens, cost) are written with the next request's write, not on their own: a
    write per answer would double the journal's writes (PUTs on an object store) for figures
    the driver's last record has anyway.
    """

    def __init__(self, settings: GateSettings, persist: Persist | None = None):
        super().__init__(settings)
        self._ahead: WriteAhead | None = None
        if persist is not None:
            persist(self.totals())  # the invocation is on record before its first request
            self._ahead = WriteAhead(persist, self.totals)

    async def hold(self) -> None:
        counted = not self.settings.limits_requests  # else `reserve` counts the request
        GateCore.hold(self)
        if counted and self._ahead is not None:
            await self._ahead.covered()

    async def reserve(self, tokens: float, cost: float) -> float | None:
        wait = GateCore.reserve(self, tokens, cost)
        if self._ahead is not None:  # a refusal is counted too (budget_refusals)
            await self._ahead.covered()
        return wait

    async def seal(self) -> None:
        """Write no more: the driver writes the invocation's last record after this."""
        if self._ahead is not None:
            await self._ahead.seal()


def job_gate_actor(
    name: str, settings: GateSettings, persist: Persist | None = None
) -> ray.actor.ActorHandle:
    """Create the job's named gate actor on this process's node (the driver's).

    A worker node lost mid-run then takes no gate with it: the job's rate state, ledger and
    circuit live as long as the driver does, as Ray Train's controller does. `persist`: the
    invocation's journal (write_ahead)."""
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return TeacherGateActor.options(
        name=name, namespace=NAMESPACE, get_if_exists=True, scheduling_strategy=here
    ).remote(settings, persist)


def find_gate(name: str) -> ray.actor.ActorHandle:
    """The job's gate actor, which the driver created (`job_gate_actor`)."""
    return ray.get_actor(name, namespace=NAMESPACE)


class RayGate:
    """Client side of the gate actor.

    Each request costs two actor calls: one before it leaves (`hold` or `reserve`: the gate counts
    it as sent), one when it is settled, sent at once. A request paid on a node that dies before
    its settlement arrives is then still counted, as unsettled. Other counters (cache hits and
    writes) are summed here and sent on `flush`.

    A client whose worker lost its parent (the raylet that started it: its Ray was killed with the
    driver, as a SIGKILL of `recycle run` does) sends nothing more. Ray ends such a worker about a
    second later; until then it went on sending, and paying, for answers that no count or journal
    would see (14 in one probe, beyond the 4 in flight at the kill).

    Endpoint health costs no actor call while all is well: failures are reported at once, an
    answer only when this actor saw a failure since its last report, and admission is asked of
    the gate only while this actor knows the circuit is not closed (one call per wait, shared by
    the requests waiting here).
    """

    def __init__(self, name: str, settings: GateSettings):
        self.settings = settings
        self.handle = find_gate(name)
        self._pending: list[ray.ObjectRef] = []
        self._counts: Counter[str] = Counter()
        self._open = False  # this actor knows the circuit is not closed: ask before sending
        self._failed_since = False  # a failure reported since the last answer reported
        self._wait_until = 0.0  # a wait the gate asked for, shared by this actor's requests
        self._health_lock = asyncio.Lock()
        self._in_flight = InFlight()
        self._holding = False  # the job is stopping: send nothing new
        self._heartbeat: asyncio.Task | None = None
        self._me = ""  # this client's name in the gate's heartbeats, set with the first
        self._parent = os.getppid()  # the raylet that started this worker

    def follow(self, in_flight: InFlight) -> None:
        self._in_flight = in_flight

    async def hold(self) -> None:
        if os.getppid() != self._parent:  # orphaned: Ray ends this worker soon, send nothing
            await asyncio.Event().wait()
        if self._heartbeat is None:  # the first request learns whether the job is stopping
            self._me = ray.get_runtime_context().get_actor_id() or f"client-{id(self)}"
            self._holding = await self._report()
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())
        while self._holding:
            await asyncio.sleep(HEARTBEAT_S)
        if not self.settings.limits_requests:  # with one, `reserve` counts the request as sent
            await self.handle.hold.remote()

    async def _report(self) -> bool:
        """Tell the gate what this actor has in flight; whether the job is stopping."""
        return await self.handle.heartbeat.remote(self._me, len(self._in_flight))

    async def _beat(self) -> None:
        """Report every HEARTBEAT_S, so a graceful stop knows when the answers have landed."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self._holding = await self._report()

    async def reserve(self, tokens: float, cost: float) -> float | None:
        return await self.handle.reserve.remote(tokens, cost)

    def settle(self, counts: dict[str, float], reserved_cost: float, token_refund: float) -> None:
        if reserved_cost or token_refund or counts.get(REQUESTS):
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
            await self.handle.succeeded.remote(probe)

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
    return ray.get(find_gate(name).totals.remote())
