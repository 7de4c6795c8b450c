"""A teacher stage over a dataset into a run directory, and what it did (`recycle reflect`).

The manifest's "teacher" section holds what the teacher cost (requests, retries, cache hits,
tokens, USD, errors by kind) and what became of each sample (status counts), with its own check:
samples that entered the stage = reflected + not reflected + rejected.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow.compute as pc
import ray

from recycle import columns as C
from recycle.config import RecycleConfig
from recycle.config.teacher import TeacherConfig
from recycle.rundir import read_outcome, write_outcomes
from recycle.teacher import parse as teacher_parse
from recycle.teacher.session import TeacherSession, gate_session
from recycle.teacher.stages import reflect_instruction, reflect_response

KINDS = {
    "instruction": (
        reflect_instruction,
        C.REFLECT_INSTRUCTION_STATUS,
        C.REFLECT_INSTRUCTION_TRUNCATED,
    ),
    "response": (reflect_response, C.REFLECT_RESPONSE_STATUS, C.REFLECT_RESPONSE_TRUNCATED),
}


def reflect_and_write(
    samples: ray.data.Dataset, cfg: RecycleConfig, teacher: TeacherConfig, kind: str
) -> dict[str, Any]:
    """Run the stage over normalized samples into the run directory; return the gate's totals.

    Raises:
        TeacherAuthError, TeacherEndpointError: unwrapped from Ray's task errors.
    """
    with gate_session(cfg, teacher) as session:
        reflect_into(samples, cfg, session, kind)
    return session.totals


def reflect_into(
    samples: ray.data.Dataset, cfg: RecycleConfig, session: TeacherSession, kind: str
) -> None:
    """The reflection of `kind` over the samples, streamed into the run directory's part files."""
    stage = KINDS[kind][0]
    write_outcomes(
        stage(samples, session.config, session.gate_name, session.cache_dir), cfg.output.dir
    )


def teacher_stats(run_dir: str, kind: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The summary plus what became of each sample that entered the stage, checked to add up.

    Every kept row carries the status "ok" or a parse failure; every reject of this stage carries
    its reason; rows rejected earlier (validate) carry none.
    """
    _, status_column, truncated_column = KINDS[kind]
    by_outcome: dict[str, Counter[str]] = {}
    truncated = stage_rejects = 0
    for outcome in C.OUTCOMES:
        table = read_outcome(run_dir, outcome, columns=[status_column, truncated_column, C.STAGE])
        if table is None:
            continue
        by_outcome[outcome] = Counter(s for s in table[status_column].to_pylist() if s is not None)
        truncated += int(pc.sum(pc.fill_null(table[truncated_column], False)).as_py() or 0)
        if outcome == C.OUTCOME_REJECTED:
            stage_rejects = sum(1 for s in table[C.STAGE].to_pylist() if s == f"reflect_{kind}")
    status = sum(by_outcome.values(), Counter())
    kept = by_outcome.get(C.OUTCOME_KEPT, Counter())
    reflected = kept.get(teacher_parse.OK, 0)
    not_reflected = sum(n for s, n in kept.items() if s.startswith("parse_"))
    rejected = sum(by_outcome.get(C.OUTCOME_REJECTED, Counter()).values())
    ok = reflected + not_reflected == sum(kept.values()) and rejected == stage_rejects
    return {
        **summary,
        "entered": sum(status.values()),
        "reflected": reflected,
        "not_reflected": not_reflected,
        "rejected": rejected,
        "truncated": truncated,
        "status": dict(sorted(status.items())),
        "invariant": {
            "ok": ok,
            "entered": sum(status.values()),
            "accounted": reflected + not_reflected + rejected,
        },
    }
