"""The teacher side of one pipeline run: endpoint (attached or served), gate actor, cache, totals.

The gate actor (rate limit, budget, accounting) is created here, in the driver, so it lives as
long as the run and not as long as whichever teacher actor happened to ask for it first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ray

from recycle.config import RecycleConfig
from recycle.config.teacher import TeacherConfig
from recycle.teacher.client import resolve_api_key
from recycle.teacher.errors import fatal_from_record, find_fatal
from recycle.teacher.gate import GateSettings, job_gate_actor
from recycle.teacher.run import teacher_cache_dir, teacher_summary
from recycle.teacher.serve import served_teacher


@dataclass
class TeacherSession:
    """What the teacher stages of one run share, and what they cost once the run is over."""

    config: TeacherConfig
    gate_name: str
    cache_dir: str | None
    summary: dict[str, Any] = field(default_factory=dict)


@contextmanager
def teacher_session(cfg: RecycleConfig) -> Iterator[TeacherSession]:
    """Check the key, start or attach the endpoint, hold the gate; fill `summary` at the end.

    Raises:
        TeacherAuthError, TeacherEndpointError: the first fatal teacher error, unwrapped from Ray.
    """
    resolve_api_key(cfg.teacher)
    with served_teacher(cfg.teacher) as teacher:
        name = f"recycle-teacher-{uuid.uuid4().hex[:12]}"
        gate = job_gate_actor(name, GateSettings.from_config(teacher))
        session = TeacherSession(teacher, name, teacher_cache_dir(cfg))
        try:
            yield session
        except Exception as err:
            fatal = fatal_from_record(ray.get(gate.fatal.remote())) or find_fatal(err)
            if fatal is not None:
                raise fatal from None
            raise
        finally:
            session.summary = teacher_summary(teacher, ray.get(gate.totals.remote()), session.cache_dir)
            ray.kill(gate)
