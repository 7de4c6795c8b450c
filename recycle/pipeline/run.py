"""`recycle run`: raw dataset in, recycled dataset, manifest and report out, resumable.

Resume: every streamed row is written as soon as it is done, in part files named by content, and
a rerun of the same command skips the sample ids already written (an anti-join), except the
rejects left for a rerun (teacher_unavailable, budget; see resume.py), while the teacher cache
answers every prompt already paid for. Validation rejects are cheap and deterministic, so they are
rewritten on every run. A teacher outage longer than teacher.max_outage_s stops the run cleanly: a
manifest with what is finished and what is pending, then TeacherOutageError (exit code 4).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd
import ray

from recycle import columns as C
from recycle.config import RecycleConfig, redacted
from recycle.data.read import read_samples
from recycle.errors import ConfigError, InputError
from recycle.pipeline.export import write_alpaca_json
from recycle.pipeline.graph import ifd_graph, reflection_graph
from recycle.pipeline.progress import logged_progress
from recycle.pipeline.resources import fit_to_cluster
from recycle.pipeline.resume import (
    FINISHED,
    STOPPED,
    add_up,
    invocation,
    previous_invocations,
    prior_cost_usd,
    remaining,
)
from recycle.pipeline.stats import table6_stats
from recycle.ray_utils import init_ray
from recycle.rundir import (
    build_manifest,
    check_resume_keys,
    clear_outcomes,
    count_outcomes,
    delete_parts,
    write_manifest,
    write_outcomes,
)
from recycle.select import select_ifd_topk
from recycle.teacher.errors import TeacherOutageError
from recycle.teacher.session import TeacherSession, teacher_session

log = logging.getLogger(__name__)
VALIDATE_PARTS = "validate"
STREAM_PARTS = "part"


def check_config(cfg: RecycleConfig) -> None:
    """Fail before any work on a config the pipeline cannot run."""
    mode = cfg.selection.mode
    if mode == "coherence":
        from recycle.student.coherence import load_embedder

        load_embedder(cfg.student.coherence_model)  # a missing Sentence-BERT model stops here
    if mode != "recycle" and not cfg.student.model:
        raise ConfigError(f"selection.mode={mode} needs a student: set student.model=PATH")
    if mode == "ifd_topk" and cfg.selection.topk_n is None and cfg.selection.topk_percent is None:
        raise ConfigError(
            "selection.mode=ifd_topk needs selection.topk_percent or selection.topk_n"
        )


def resume_keys(cfg: RecycleConfig) -> dict[str, Any]:
    """The settings that shape a run's rows: a resumed run must use the same."""
    return {
        "data.input": cfg.data.input,
        "selection": cfg.selection.model_dump(mode="json"),
        "student.model": cfg.student.model,
        "student.template": cfg.student.template,
        "student.max_length": cfg.student.max_length,
        "teacher.model": cfg.teacher.model,
    }


def validated(cfg: RecycleConfig, timings: dict[str, float]) -> tuple[ray.data.Dataset, int]:
    """Read and normalize; write the validation rejects; return the valid samples and the input count."""
    t0 = time.perf_counter()
    rows, n_input = read_samples(cfg.data, cfg.ray.block_rows)
    delete_parts(cfg.output.dir, VALIDATE_PARTS)
    write_outcomes(
        rows.filter(expr=f"{C.OUTCOME} != '{C.OUTCOME_KEPT}'"), cfg.output.dir, VALIDATE_PARTS
    )
    timings["validate"] = time.perf_counter() - t0
    return rows.filter(expr=f"{C.OUTCOME} == '{C.OUTCOME_KEPT}'").materialize(), n_input


def run_topk(ds: ray.data.Dataset, cfg: RecycleConfig) -> None:
    """ifd_topk: score everything, rank on the driver, write. Global, so it restarts on resume."""
    delete_parts(cfg.output.dir, STREAM_PARTS)
    scored = ifd_graph(ds, cfg).to_pandas()
    chosen = select_ifd_topk(scored, cfg.selection, ifd_col=C.scored(C.ORIG, C.IFD))
    write_outcomes(ray.data.from_pandas(_final_is_original(chosen)), cfg.output.dir, STREAM_PARTS)


def _final_is_original(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df[C.FINAL_INSTRUCTION], df[C.FINAL_INPUT], df[C.FINAL_OUTPUT] = (
        df[C.INSTRUCTION],
        df[C.INPUT],
        df[C.OUTPUT],
    )
    df[C.FINAL_IFD] = df[C.scored(C.ORIG, C.IFD)]
    return df


def run_pipeline(cfg: RecycleConfig) -> dict[str, Any]:
    """Run (or resume) the configured pipeline into cfg.output.dir; returns the manifest."""
    check_config(cfg)
    init_ray(cfg.ray)
    cfg = fit_to_cluster(cfg, ray.cluster_resources())
    timings: dict[str, float] = {}
    if cfg.output.overwrite:
        clear_outcomes(cfg.output.dir)
    check_resume_keys(cfg.output.dir, resume_keys(cfg))
    history, started = previous_invocations(cfg.output.dir), time.time()
    ds, n_input = validated(cfg, timings)
    t0 = time.perf_counter()
    extra: dict[str, Any] = {"mode": cfg.selection.mode}
    if cfg.selection.mode == "ifd_topk":
        run_topk(ds, cfg)
    else:
        todo = remaining(ds, cfg.output.dir, STREAM_PARTS, cfg.output.retry_rejected)
        teacher: TeacherSession | None = None
        try:
            with (
                teacher_session(cfg, prior_cost_usd(history)) as teacher,
                logged_progress(cfg.output.dir, teacher.gate_name),
            ):
                write_outcomes(reflection_graph(todo, cfg, teacher), cfg.output.dir, STREAM_PARTS)
        except TeacherOutageError as err:
            summary = teacher.summary if teacher is not None else {}
            history.append(invocation(STOPPED, started, summary))
            extra.update(teacher=add_up(summary, history), invocations=history)
            raise stopped(cfg, n_input, timings, extra, err) from None
        history.append(invocation(FINISHED, started, teacher.summary))
        extra.update(teacher=add_up(teacher.summary, history), invocations=history)
    extra["status"] = FINISHED
    timings["pipeline"] = time.perf_counter() - t0
    return finish(cfg, n_input, timings, extra)


def stopped(
    cfg: RecycleConfig,
    n_input: int,
    timings: dict[str, float],
    extra: dict[str, Any],
    err: TeacherOutageError,
) -> TeacherOutageError:
    """Write the manifest of a run stopped by a teacher outage; the error to stop with."""
    counts = count_outcomes(cfg.output.dir, retry=cfg.output.retry_rejected)
    finished = counts["kept"] + sum(counts["dropped"].values()) + sum(counts["rejected"].values())
    counts["pending"] = n_input - finished - sum(counts.get("retry", {}).values())
    extra["status"] = STOPPED
    manifest = build_manifest("run", n_input, counts, redacted(cfg), timings, extra)
    write_manifest(cfg.output.dir, manifest)
    return TeacherOutageError(
        f"{err}. {finished} of {n_input} samples are finished and written to {cfg.output.dir} "
        f"(every answer received is cached); {n_input - finished} are left: run the same command "
        "again to resume once the endpoint answers"
    )


def finish(
    cfg: RecycleConfig, n_input: int, timings: dict[str, float], extra: dict[str, Any]
) -> dict[str, Any]:
    """Manifest (with the invariant checked), Alpaca JSON export and report."""
    from recycle.report import write_report

    counts = count_outcomes(cfg.output.dir, retry=cfg.output.retry_rejected)
    alpaca_json = write_alpaca_json(cfg.output.dir)
    if cfg.output.report_stats and cfg.student.model:
        t0 = time.perf_counter()
        extra["stats"] = table6_stats(cfg, alpaca_json, counts["kept"])
        timings["stats"] = time.perf_counter() - t0
    manifest = build_manifest("run", n_input, counts, redacted(cfg), timings, extra)
    manifest["outputs"]["alpaca_json"] = alpaca_json
    uri = write_manifest(cfg.output.dir, manifest)
    manifest["outputs"]["report"] = write_report(cfg.output.dir)
    write_manifest(cfg.output.dir, manifest)
    if not manifest["invariant"]["ok"]:
        raise InputError(f"accounting does not add up: {manifest['invariant']}; see {uri}")
    return manifest
