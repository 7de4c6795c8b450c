"""The teacher side of one job: endpoint (attached or served), the gate actor, the cache, totals.

The gate actor (rate limit, budget, accounting, first fatal error) is created here, in the
driver, so it lives as long as the job and not as long as whichever teacher actor asked first.
Used by `recycle reflect` and by the pipeline.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ray

from recycle.config import RecycleConfig
from recycle.config.teacher import TeacherConfig
from recycle.teacher.client import endpoint_name, resolve_api_key
from recycle.teacher.context import fit_context
from recycle.teacher.drain import drain_on_interrupt
from recycle.teacher.errors import fatal_from_record, find_fatal
from recycle.teacher.gate import GateSettings, job_gate_actor
from recycle.teacher.serve import serving
from recycle.teacher.write_ahead import Persist


@dataclass
class TeacherSession:
    """What the teacher stages of one job share, and (once it is over) what they cost."""

    config: TeacherConfig
    gate_name: str
    cache_dir: str | None
    totals: dict[str, Any] = field(default_factory=dict)
    served: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, Any]:
        """Which teacher was used (and, when the job served it, which deployment) and what it cost."""
        out = teacher_summary(self.config, self.totals, self.cache_dir)
        return {**out, "served": self.served} if self.served else out


def teacher_cache_dir(cfg: RecycleConfig) -> str | None:
    """Where answers are cached: teacher.cache_dir, else <output.dir>/teacher_cache; None when off."""
    if not cfg.teacher.cache:
        return None
    return cfg.teacher.cache_dir or posixpath.join(cfg.output.dir.rstrip("/"), "teacher_cache")


def teacher_summary(
    cfg: TeacherConfig, totals: dict[str, Any], cache_dir: str | None
) -> dict[str, Any]:
    """Which teacher was used (no key, no credentials in the URL) and what it cost."""
    base_url = endpoint_name(cfg.base_url) if cfg.base_url else "openai"
    return {"model": cfg.model, "base_url": base_url, "cache_dir": cache_dir, **totals}


@contextmanager
def gate_session(
    cfg: RecycleConfig,
    teacher: TeacherConfig,
    prior_cost_usd: float = 0.0,
    persist: Persist | None = None,
) -> Iterator[TeacherSession]:
    """Hold the job's gate actor; on failure re-raise the first fatal teacher error as raised.

    Meanwhile a Ctrl-C first lets the answers in flight land in the cache (recycle.teacher.drain).

    `prior_cost_usd` (what earlier invocations of a resumed run spent) counts to the budget.
    `persist` (the invocation's journal) has every request on record before it leaves
    (recycle.teacher.write_ahead); the gate writes no more once the session ends.

    Raises:
        TeacherAuthError, TeacherEndpointError, TeacherOutageError: unwrapped from Ray's errors.
    """
    name = f"recycle-teacher-{uuid.uuid4().hex[:12]}"
    gate = job_gate_actor(name, GateSettings.from_config(teacher, prior_cost_usd), persist)
    session = TeacherSession(teacher, name, teacher_cache_dir(cfg))
    try:
        with drain_on_interrupt(gate, teacher.timeout_s):
            yield session
    except Exception as err:
        fatal = fatal_from_record(ray.get(gate.fatal.remote())) or find_fatal(err)
        if fatal is not None:
            raise fatal from None
        raise
    finally:
        ray.get(gate.seal.remote())
        session.totals = ray.get(gate.totals.remote())
        ray.kill(gate)


@contextmanager
def teacher_session(
    cfg: RecycleConfig, prior_cost_usd: float = 0.0, persist: Persist | None = None
) -> Iterator[TeacherSession]:
    """Check the key (a served teacher needs none), start or attach the endpoint, hold the gate
    (`gate_session`: `prior_cost_usd`, `persist`).

    The context window is lowered to the one the endpoint reports for the model (vLLM does).
    """
    if cfg.teacher.serve is None:
        resolve_api_key(cfg.teacher)
    with (
        serving(cfg.teacher) as served,
        gate_session(cfg, fit_context(served.config), prior_cost_usd, persist) as session,
    ):
        session.served = served.info
        yield session
