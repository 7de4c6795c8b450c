"""The steps of `recycle run` (recycle.commands.pipeline): raw dataset in, recycled dataset out, resumable.

Resume: every streamed row is written as soon as it is done, in part files named by content, and
a rerun of the same command skips the sample ids already written (an anti-join), except the
rejects left for a rerun (teacher_unavailable, budget; see resume.py), while the teacher cache
answers every prompt already paid for. Validation rejects are cheap and deterministic, so they are
rewritten on every run. A teacher outage longer than teacher.max_outage_s stops the run cleanly: a
manifest with what is finished and what is pending, then TeacherOutageError (exit code 4).
"""

from __future__ import annotations

import posixpath
import time
from typing import Any

import pandas as pd
import ray
from ray.data.expressions import col

from recycle import columns as C
from recycle.config import RecycleConfig
from recycle.data.read import read_samples
from recycle.errors import ConfigError
from recycle.pipeline.export import write_alpaca_json
from recycle.pipeline.graph import ifd_graph, reflection_graph
from recycle.pipeline.progress import logged_progress, stage_done
from recycle.pipeline.reassemble import conversation_counts, reassemble
from recycle.pipeline.resume import (
    FINISHED,
    STOPPED,
    STREAM_PARTS,
    InvocationJournal,
    add_up,
    previous_invocations,
    prior_cost_usd,
    remaining,
)
from recycle.pipeline.stats import embedder_error, table6_stats
from recycle.pipeline.turns import explode, write_stream_batch
from recycle.rundir import MANIFEST, delete_parts, read_manifest, write_outcomes
from recycle.select import select_ifd_topk
from recycle.select.plan import SelectionPlan, plan_selection
from recycle.storage import file_exists
from recycle.teacher.errors import TeacherOutageError
from recycle.teacher.session import (
    TeacherSession,
    teacher_cache_dir,
    teacher_session,
    teacher_summary,
)

VALIDATE_PARTS = "validate"


def check_config(cfg: RecycleConfig) -> None:
    """Fail before any work on a config the pipeline cannot run (the mode's declaration included)."""
    # an unknown mode, or a rule or filter reading a score no phase computes, stops here
    mode, spec = cfg.selection.mode, plan_selection(cfg.selection).spec
    if spec.needs_embedder and (reason := embedder_error(cfg.student.coherence_model)):
        raise ConfigError(reason)  # a missing Sentence-BERT model stops here, loaded once a run
    if spec.needs_student and not cfg.student.model:
        raise ConfigError(f"selection.mode={mode} needs a student: set student.model=PATH")
    if spec.global_topk and cfg.selection.topk_n is None and cfg.selection.topk_percent is None:
        raise ConfigError(f"selection.mode={mode} needs selection.topk_percent or selection.topk_n")


def resume_keys(cfg: RecycleConfig) -> dict[str, Any]:
    """The settings that shape a run's rows: a resumed run must use the same.

    `selection.turns` is a key of its own, present only when not the default: a run directory
    made before the setting existed resumes under the default, and a change either way is refused.
    """
    turns = {} if cfg.selection.turns == "all" else {"selection.turns": cfg.selection.turns}
    return {
        **turns,
        "data.input": cfg.data.input,
        "selection": cfg.selection.model_dump(mode="json", exclude={"turns"}),
        "student.model": cfg.student.model,
        "student.template": cfg.student.template,
        "student.max_length": cfg.student.max_length,
        "teacher.model": cfg.teacher.model,
    }


def validated(cfg: RecycleConfig, timings: dict[str, float]) -> tuple[ray.data.Dataset, int]:
    """Read and normalize; write the validation rejects; return the valid samples and the input count."""
    t0 = time.perf_counter()
    rows, n_input = read_samples(cfg.data)
    delete_parts(cfg.output.dir, VALIDATE_PARTS)
    write_outcomes(
        rows.filter(expr=col(C.OUTCOME) != C.OUTCOME_KEPT), cfg.output.dir, VALIDATE_PARTS
    )
    timings["validate"] = time.perf_counter() - t0
    stage_done("validate", f"{n_input} rows read", timings["validate"])
    return rows.filter(expr=col(C.OUTCOME) == C.OUTCOME_KEPT).materialize(), n_input


def run_topk(ds: ray.data.Dataset, cfg: RecycleConfig, plan: SelectionPlan) -> None:
    """ifd_topk: score everything, rank on the driver, write. Global, so it restarts on resume."""
    delete_parts(cfg.output.dir, STREAM_PARTS)
    scored = ifd_graph(ds, cfg, plan).to_pandas()
    chosen = select_ifd_topk(scored, plan.config, ifd_col=C.scored(C.ORIG, C.IFD))
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


def reflect_and_score(
    ds: ray.data.Dataset,
    cfg: RecycleConfig,
    plan: SelectionPlan,
    started: float,
    extra: dict[str, Any],
) -> int:
    """Stream the samples not written yet through the graph of the run's `plan` into the run
    directory (with the Table 6 statistics' columns when `plan.table6`); returns how many there
    were.

    `extra` gets the manifest's "teacher" (added up over the run directory's invocations, those
    killed before writing a manifest included: resume.previous_invocations) and "invocations", also
    when a teacher outage stops the stream. While the stream runs, the gate keeps its teacher
    totals in the run directory's journal (resume.InvocationJournal), each request on record
    before it leaves (teacher.write_ahead), for a rerun to count if it is killed.

    Raises:
        TeacherOutageError: the endpoint did not answer for teacher.max_outage_s.
    """
    history = previous_invocations(cfg.output.dir)
    todo = remaining(ds, cfg.output.dir, STREAM_PARTS, cfg.output.retry_rejected)
    todo = explode(todo, cfg.output.dir, cfg.selection.turns, cfg.output.retry_rejected)
    total = todo.count()
    journal = InvocationJournal(cfg.output.dir, started)
    if total == 0:  # a rerun of a finished run: no endpoint, no gate, no actor pool started
        stage_done("reflect+score", "every sample was written before, nothing to do", 0.0)
        history.append(journal.record(FINISHED, {}))
        summary = teacher_summary(cfg.teacher, {}, teacher_cache_dir(cfg))
        extra.update(teacher=add_up(summary, history), invocations=history)
        reassemble_conversations(cfg, plan, extra)
        return 0
    teacher: TeacherSession | None = None
    try:
        with (
            teacher_session(cfg, prior_cost_usd(history), journal.update) as teacher,
            logged_progress(cfg.output.dir, teacher.gate_name, total=total, quiet=cfg.ray.quiet),
        ):
            graph = reflection_graph(todo, cfg, teacher, plan)
            write_outcomes(graph, cfg.output.dir, STREAM_PARTS, write_stream_batch)
    except TeacherOutageError:
        summary = teacher.summary if teacher is not None else {}
        history.append(journal.record(STOPPED, summary))
        extra.update(teacher=add_up(summary, history), invocations=history)
        raise
    except BaseException as err:  # no manifest follows: the journal keeps the final totals
        if teacher is not None and teacher.totals:
            journal.ended(err, teacher.summary)
        raise
    history.append(journal.record(FINISHED, teacher.summary))
    extra.update(teacher=add_up(teacher.summary, history), invocations=history)
    reassemble_conversations(cfg, plan, extra)
    return total


def reassemble_conversations(
    cfg: RecycleConfig, plan: SelectionPlan, extra: dict[str, Any]
) -> None:
    """Join the streamed turn rows into one row per conversation (pipeline/turns.py), and put the
    conversation counts in the manifest's `extra` when the run has conversations."""
    t0 = time.perf_counter()
    n = reassemble(cfg.output.dir, cfg.selection, plan.spec.final_filter)
    counts = conversation_counts(cfg.output.dir)
    if counts:
        extra["conversations"] = counts
        stage_done("conversations", f"{n} reassembled from their turns", time.perf_counter() - t0)


def unchanged_outputs(cfg: RecycleConfig, n_input: int, counts: dict[str, Any]) -> dict[str, Any]:
    """The export, statistics and report of the finished run a rerun found with nothing to do,
    when they still describe the run directory: the previous manifest finished with the same
    counts and its files are there. {} otherwise (they are written again).

    A rerun of a finished 52k-row run then costs its start-up and the input's validation only.
    """
    if not file_exists(posixpath.join(cfg.output.dir, MANIFEST)):
        return {}
    previous = read_manifest(cfg.output.dir)
    same = previous.get("status") == FINISHED and previous["counts"] == {"input": n_input, **counts}
    outputs = previous.get("outputs", {})
    wanted = ("alpaca_json", "report")
    if not same or not all(outputs.get(k) and file_exists(outputs[k]) for k in wanted):
        return {}
    if cfg.output.report_stats and cfg.student.model and "stats" not in previous:
        return {}
    return {k: outputs[k] for k in wanted} | (
        {"stats": previous["stats"]} if "stats" in previous else {}
    )


def outputs_and_stats(
    cfg: RecycleConfig, plan: SelectionPlan, n_kept: int, timings: dict[str, float]
) -> dict[str, Any]:
    """Write the Alpaca JSON export; with output.report_stats, the Table 6 statistics too (from
    the stream's columns when the run's `plan` computed them there).

    Returns:
        {"alpaca_json": URI} and, when computed, {"stats": {"original": row, "final": row}}.
    """
    out: dict[str, Any] = {"alpaca_json": write_alpaca_json(cfg.output.dir)}
    if cfg.output.report_stats and cfg.student.model:
        t0 = time.perf_counter()
        out["stats"] = table6_stats(cfg, plan, out["alpaca_json"], n_kept)
        timings["stats"] = time.perf_counter() - t0
        stage_done("statistics", "Table 6 of the original and final data", timings["stats"])
    return out


def report(run_dir: str) -> str:
    """Write the run's report (from its manifest); returns where."""
    from recycle.report import write_report

    t0 = time.perf_counter()
    uri = write_report(run_dir)
    stage_done("report", uri, time.perf_counter() - t0)
    return uri
