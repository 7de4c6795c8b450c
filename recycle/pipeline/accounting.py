"""Teacher usage of a run, read from the job's gate actor for the manifest and the report."""

from __future__ import annotations

from typing import Any

from recycle.config import RecycleConfig
from recycle.pipeline.graph import TeacherHandle
from recycle.teacher.gate import gate_totals, remove_gate


def teacher_summary(cfg: RecycleConfig, teacher: TeacherHandle) -> dict[str, Any]:
    """Requests, retries, cache hits, tokens, parse failures and cost; then the gate is removed."""
    try:
        totals = gate_totals(teacher.gate_name)
    except ValueError:  # no gate actor: no teacher request was made in this run (all resumed)
        totals = {}
    finally:
        remove_gate(teacher.gate_name)
    return {"model": cfg.teacher.model, "base_url": cfg.teacher.base_url, **totals}
