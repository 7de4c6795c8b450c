"""A teacher stage as a whole run: read, normalize, reflect, write kept rows, rejects and the manifest.

The manifest's "teacher" section holds what the teacher cost (requests, retries, cache hits,
tokens, USD, errors by kind) and what became of each sample (status counts), with its own check:
samples that entered the stage = reflected + not reflected + rejected.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import pyarrow.compute as pc
import ray

from recycle import columns as C
from recycle.config import RecycleConfig, redacted
from recycle.config.teacher import TeacherConfig
from recycle.data.read import read_samples
from recycle.errors import ConfigError, InputError
from recycle.ray_utils import init_ray
from recycle.rundir import (
    build_manifest,
    clear_outcomes,
    count_outcomes,
    read_outcome,
    write_manifest,
    write_outcomes,
)
from recycle.teacher import parse as P
from recycle.teacher.session import TeacherSession, gate_session, teacher_session
from recycle.teacher.stages import reflect_instruction, reflect_response

log = logging.getLogger(__name__)

KINDS = {
    "instruction": (
        reflect_instruction,
        C.REFLECT_INSTRUCTION_STATUS,
        C.REFLECT_INSTRUCTION_TRUNCATED,
    ),
    "response": (reflect_response, C.REFLECT_RESPONSE_STATUS, C.REFLECT_RESPONSE_TRUNCATED),
}


def run_reflect(cfg: RecycleConfig, kind: str) -> dict[str, Any]:
    """Reflect `cfg.data.input` on its instructions or responses into `cfg.output.dir`.

    Returns:
        The manifest written to the run directory.

    Raises:
        ConfigError, TeacherAuthError, TeacherEndpointError: before or at the first request.
        InputError: the input is empty, or rows were lost (invariant broken).
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown reflection {kind!r}; use one of {', '.join(KINDS)}")
    timings: dict[str, float] = {}
    init_ray(cfg.ray)
    t0 = time.perf_counter()
    # Normalizing ends in a shuffle (duplicates): it is finished before the teacher pool takes CPUs.
    samples, n_input = read_samples(cfg.data, cfg.ray.block_rows)
    timings["read_and_normalize"] = time.perf_counter() - t0
    clear_outcomes(cfg.output.dir)
    t1 = time.perf_counter()
    with teacher_session(cfg) as session:
        _reflect_into(samples, cfg, session, kind)
    timings[f"reflect_{kind}_and_write"] = time.perf_counter() - t1
    stats = teacher_stats(cfg.output.dir, kind, session.summary)
    counts = count_outcomes(cfg.output.dir)
    extra = {"teacher": stats}
    manifest = build_manifest(
        f"reflect {kind}", n_input, counts, redacted(cfg), timings, extra=extra
    )
    uri = write_manifest(cfg.output.dir, manifest)
    log.info("manifest: %s", uri)
    if not (manifest["invariant"]["ok"] and stats["invariant"]["ok"]):
        raise InputError(
            f"rows were lost: {manifest['invariant']}, teacher {stats['invariant']}; see {uri}"
        )
    return manifest


def reflect_and_write(
    samples: ray.data.Dataset, cfg: RecycleConfig, teacher: TeacherConfig, kind: str
) -> dict[str, Any]:
    """Run the stage over normalized samples into the run directory; return the gate's totals.

    Raises:
        TeacherAuthError, TeacherEndpointError: unwrapped from Ray's task errors.
    """
    with gate_session(cfg, teacher) as session:
        _reflect_into(samples, cfg, session, kind)
    return session.totals


def _reflect_into(
    samples: ray.data.Dataset, cfg: RecycleConfig, session: TeacherSession, kind: str
) -> None:
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
    reflected = kept.get(P.OK, 0)
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
