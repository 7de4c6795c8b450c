"""A teacher stage as a whole run: read, normalize, reflect, write kept rows, rejects and the manifest.

The manifest's "teacher" section holds what the teacher cost (requests, retries, cache hits,
tokens, USD, errors by kind) and what became of each sample (status counts), with its own check:
samples that entered the stage = reflected + not reflected + rejected.
"""

from __future__ import annotations

import logging
import posixpath
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import pyarrow.compute as pc
import ray

from recycle import columns as C
from recycle.config import RecycleConfig, redacted
from recycle.config.teacher import TeacherConfig
from recycle.data.read import normalize, read_raw
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
from recycle.teacher.client import resolve_api_key
from recycle.teacher.errors import fatal_from_record, find_fatal
from recycle.teacher.gate import GateSettings, job_gate_actor
from recycle.teacher.serve import served_teacher
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


def teacher_cache_dir(cfg: RecycleConfig) -> str | None:
    """Where answers are cached: teacher.cache_dir, else <output.dir>/teacher_cache; None when off."""
    if not cfg.teacher.cache:
        return None
    return cfg.teacher.cache_dir or posixpath.join(cfg.output.dir.rstrip("/"), "teacher_cache")


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
    if (
        cfg.teacher.serve is None
    ):  # a served teacher needs no key; otherwise a missing one stops here
        resolve_api_key(cfg.teacher)
    timings: dict[str, float] = {}
    init_ray(cfg.ray)
    n_input, samples = read_samples(cfg, timings)
    t0 = time.perf_counter()
    with served_teacher(cfg.teacher) as teacher:
        totals = reflect_and_write(samples, cfg, teacher, kind)
    timings[f"reflect_{kind}_and_write"] = time.perf_counter() - t0
    summary = teacher_summary(cfg.teacher, totals, teacher_cache_dir(cfg))
    stats = teacher_stats(cfg.output.dir, kind, summary)
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


def read_samples(cfg: RecycleConfig, timings: dict[str, float]) -> tuple[int, ray.data.Dataset]:
    """Read and normalize the input (materialized); returns the raw row count and the samples."""
    t0 = time.perf_counter()
    raw = read_raw(cfg.data).materialize()
    n_input = raw.count()
    timings["read"] = time.perf_counter() - t0
    if n_input == 0:
        raise InputError(
            f"input {cfg.data.input!r} holds no rows; check that it is the dataset you meant"
        )
    clear_outcomes(cfg.output.dir)
    t1 = time.perf_counter()
    # Normalizing ends in a shuffle (duplicates): finish it before the teacher pool takes CPUs.
    samples = normalize(raw, cfg.ray.block_rows).materialize()
    timings["normalize"] = time.perf_counter() - t1
    return n_input, samples


def reflect_and_write(
    samples: ray.data.Dataset, cfg: RecycleConfig, teacher: TeacherConfig, kind: str
) -> dict[str, Any]:
    """Run the stage over normalized samples into the run directory; return the gate's totals.

    Raises:
        TeacherAuthError, TeacherEndpointError: unwrapped from Ray's task errors.
    """
    stage = KINDS[kind][0]
    gate_name = f"recycle-teacher-{uuid.uuid4().hex[:12]}"
    gate = job_gate_actor(gate_name, GateSettings.from_config(teacher))
    try:
        ds = stage(samples, teacher, gate_name, teacher_cache_dir(cfg))
        write_outcomes(ds, cfg.output.dir)
    except Exception as err:
        fatal = fatal_from_record(ray.get(gate.fatal.remote())) or find_fatal(err)
        if fatal is not None:
            raise fatal from None
        raise
    else:
        return ray.get(gate.totals.remote())
    finally:
        ray.kill(gate)


def teacher_summary(
    cfg: TeacherConfig, totals: dict[str, Any], cache_dir: str | None
) -> dict[str, Any]:
    """Which teacher was used (no key, no credentials in the URL) and what it cost."""
    url = urlparse(cfg.base_url) if cfg.base_url else None
    base_url = (
        url._replace(netloc=url.hostname + (f":{url.port}" if url.port else "")).geturl()
        if url and url.hostname
        else cfg.base_url
    )
    return {"model": cfg.model, "base_url": base_url or "openai", "cache_dir": cache_dir, **totals}


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
