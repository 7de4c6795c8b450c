"""`recycle run`: raw dataset in; recycled dataset, manifest and report out; rerun to resume.

The steps live in recycle.pipeline.steps (validation rejects, the streamed graph, the global top-k,
the export and statistics). A teacher outage stops the run with a manifest that counts the samples
not reached as pending, then TeacherOutageError (exit code 4): the same command resumes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from recycle.commands import needs
from recycle.commands.runner import Command, Run, execute, stop
from recycle.config import RecycleConfig
from recycle.pipeline import steps
from recycle.pipeline.plan import plan_run
from recycle.pipeline.progress import stage_done
from recycle.pipeline.resume import FINISHED, STOPPED
from recycle.pipeline.stats import run_plan
from recycle.preflight import Preflight
from recycle.select.plan import SelectionPlan
from recycle.teacher.errors import TeacherOutageError


@dataclass
class Pipelined:
    """What `recycle run`'s steps hand each other: the selection plan made once a run, how many
    samples the stream took (0: a rerun of a finished run), and the outputs that still stand."""

    selection: SelectionPlan | None = None
    streamed: int | None = None
    unchanged: dict[str, Any] = field(default_factory=dict)


def _read(run: Run) -> Any:
    ds, run.n_input = steps.validated(run.cfg, run.timings)
    return ds


def _write(run: Run, ds: Any) -> None:
    cfg, t0 = run.cfg, time.perf_counter()
    run.extra["mode"] = cfg.selection.mode
    plan = run.state.selection = run_plan(cfg)  # made once a run, Table 6 decided
    if plan.global_topk:
        steps.run_topk(ds, cfg, plan)
    else:
        try:
            run.state.streamed = steps.reflect_and_score(ds, cfg, plan, run.started, run.extra)
        except TeacherOutageError as err:
            run.extra["status"] = STOPPED
            done = stop(run, "run", retry=cfg.output.retry_rejected)
            raise TeacherOutageError(
                f"{err}. {done} of {run.n_input} samples are finished and written to {run.out_dir} "
                f"(every answer received is cached); {run.n_input - done} are left: run the same "
                "command again to resume once the endpoint answers"
            ) from None
    run.extra["status"] = FINISHED
    run.timings["pipeline"] = time.perf_counter() - t0


def _sections(run: Run, counts: dict[str, Any]) -> None:
    if run.state.streamed == 0:  # a rerun of a finished run: its outputs may stand
        run.state.unchanged = made = steps.unchanged_outputs(run.cfg, run.n_input, counts)
        if made:
            stage_done("export", f"unchanged, nothing new was written: {made['alpaca_json']}", 0.0)
            run.outputs["alpaca_json"] = made["alpaca_json"]
            run.extra.update({k: v for k, v in made.items() if k == "stats"})
            return
    made = steps.outputs_and_stats(run.cfg, run.state.selection, counts["kept"], run.timings)
    run.outputs["alpaca_json"] = made.pop("alpaca_json")
    run.extra.update(made)


def _report(run: Run, manifest: dict[str, Any]) -> None:
    unchanged = run.state.unchanged.get("report")
    if unchanged:
        stage_done("report", f"unchanged: {unchanged}", 0.0)
    manifest["outputs"]["report"] = unchanged or steps.report(run.out_dir)


RUN = Command(
    name="run", check=steps.check_config, plan=plan_run, read=_read, write=_write,
    sections=_sections, after=_report, resume_keys=steps.resume_keys, timings=(None, None),
    retry=lambda cfg: cfg.output.retry_rejected, preflight=needs.RUN, state=Pipelined,
)  # fmt: skip


def run_pipeline(cfg: RecycleConfig, preflight: bool | Preflight = True) -> dict[str, Any]:
    """Run (or resume) the configured pipeline into cfg.output.dir; returns the manifest.

    `preflight=False` skips the start-up checks of input, output, student and teacher.
    """
    return execute(RUN, cfg, preflight)
