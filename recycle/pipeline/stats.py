"""Table 6 statistics of the original and the final data of a run, for the manifest and report.

When the mode scores with the student, the statistics come from the run's own columns: phase 1
also scores IFD and r-IFD of (x0, y0) (`run_plan`), the choices carry the chosen pair's losses
and lengths forward as final_*, and Sentence-BERT actors at the end of the stream write
orig_coherence and final_coherence (unless the mode computed them already). Nothing is re-read,
re-normalized or scored again. Modes without a student phase (recycle, recycle_instruction,
recycle_response) fall back to `recycle stats` on the input and on the final JSON.

The original row covers every sample that passed validation (rows rejected by the teacher before
phase 1 count as unscored: `recycle stats` on the input would score them); the final row covers
the kept samples.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from recycle import columns as C
from recycle.config import RecycleConfig
from recycle.errors import ConfigError
from recycle.pipeline.resume import STREAM_PARTS
from recycle.rundir import outcome_files, read_part
from recycle.select.declarations import COHERENCE, PAIR_TEXT, ModeSpec
from recycle.select.modes import FINAL, PAIR_LENGTHS, PAIR_SCORES
from recycle.select.plan import SelectionPlan, plan_selection
from recycle.storage import filesystem

log = logging.getLogger(__name__)
DROP_KEYS = ("dataset", "student", "template", "seconds", "counts")
FINAL_TEXT = (C.FINAL_INSTRUCTION, C.FINAL_INPUT, C.FINAL_OUTPUT)


def embedder_error(name: str) -> str:
    """Why the Sentence-BERT model `name` cannot be loaded, or "" when it loads (it is loaded:
    a run asks once, in `run_plan`, and passes the answer on)."""
    from recycle.student.coherence import load_embedder

    try:
        load_embedder(name)
    except ConfigError as err:
        return str(err)
    return ""


def run_plan(cfg: RecycleConfig) -> SelectionPlan:
    """The selection plan of one `recycle run`, made once when it starts and handed to its graph,
    its top-k step and its statistics: the mode's declaration, with phase 1 widened when the run
    computes its Table 6 statistics in the stream (see the module doc).

    Whether it does is decided here, once a run: it loads the Sentence-BERT model to see that it
    loads.
    """
    plan = plan_selection(cfg.selection)
    wanted = cfg.output.report_stats and bool(cfg.student.model) and plan.spec.needs_student
    in_stream = wanted and not embedder_error(cfg.student.coherence_model)
    return plan.with_table6() if in_stream else plan


def table6_in_stream(cfg: RecycleConfig) -> bool:
    """Whether a run of `cfg` computes its Table 6 statistics in the stream (run_plan decides)."""
    return run_plan(cfg).table6


def planned(cfg: RecycleConfig, plan: SelectionPlan | bool) -> SelectionPlan:
    """`plan` as it is; a bool (Table 6 in the stream or not) plans cfg.selection so, here."""
    if isinstance(plan, SelectionPlan):
        return plan
    base = plan_selection(cfg.selection)
    return base.with_table6() if plan else base


def run_spec(cfg: RecycleConfig, in_stream: bool) -> ModeSpec:
    """The mode's declaration as a run executes it (phase 1 widened for Table 6 in the stream)."""
    return planned(cfg, in_stream).spec


def final_prefix(spec: ModeSpec) -> str:
    """Where the final pair's scores are: the originals' in the global top-k modes."""
    return C.ORIG if spec.global_topk else FINAL


def coherence_pairs(spec: ModeSpec) -> tuple[list[tuple[str, str, str | None, str]], list[str]]:
    """The pairs the end-of-stream Sentence-BERT stage embeds, and those embedded on kept rows only."""
    pairs = []
    if not spec.phase1.computes(C.ORIG, COHERENCE):
        pairs.append((C.ORIG, *PAIR_TEXT[C.ORIG]))
    pair1_has = spec.phase2.computes(C.PAIR1, COHERENCE) or all(
        spec.phase1.computes(p, COHERENCE) for p in (C.ORIG, C.INS)
    )
    carried = spec.phase2.computes(C.RES, COHERENCE) and pair1_has
    if final_prefix(spec) == FINAL and not carried:
        pairs.append((FINAL, *FINAL_TEXT))
        return pairs, [FINAL]
    return pairs, []


def _stream_frame(run_dir: str, outcomes: tuple[str, ...], prefix: str) -> pd.DataFrame | None:
    """The prefix's score columns of the streamed rows of `outcomes`, with bare names."""
    wanted = [C.scored(prefix, b) for b in (*PAIR_SCORES, *PAIR_LENGTHS, C.SCORE_ERROR)]
    fs, _ = filesystem(run_dir)
    frames = []
    for outcome in outcomes:
        for path in outcome_files(run_dir, outcome, STREAM_PARTS):
            table = read_part(fs, path, wanted, missing_ok=True)
            frames.append(table.to_pandas())
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True).rename(columns=lambda c: c.removeprefix(prefix))
    return df.reindex(columns=[c.removeprefix(prefix) for c in wanted])


def scored_table6_row(df: pd.DataFrame) -> dict[str, Any]:
    """table6_row over the frame; a row is unscored where its score_error says so or a loss is NaN."""
    from recycle.student.stats import table6_row

    losses = df[[C.LOSS_Y_GIVEN_X, C.LOSS_X_GIVEN_Y]].astype(float).to_numpy()
    errors = df[C.SCORE_ERROR]
    failed = errors.notna().to_numpy() & (errors.astype(object) != "").to_numpy()
    df = df.assign(**{C.SCORE_ERROR: np.where(failed | ~np.isfinite(losses).all(axis=1), "x", "")})
    return table6_row(df)


def stats_from_run(cfg: RecycleConfig, plan: SelectionPlan) -> dict[str, Any]:
    """{"original": row, "final": row} from the columns the run (of `plan`) wrote in the stream."""
    every = (C.OUTCOME_KEPT, C.OUTCOME_DROPPED, C.OUTCOME_REJECTED)
    original = _stream_frame(cfg.output.dir, every, C.ORIG)
    if original is None or original[C.LOSS_X_GIVEN_Y].isna().all():
        return {"skipped": "the run's rows hold no r-IFD of (x0, y0) (a resumed run that had "
                "output.report_stats=false?): run `recycle stats` on the input"}  # fmt: skip
    out: dict[str, Any] = {"original": scored_table6_row(original)}
    final = _stream_frame(cfg.output.dir, (C.OUTCOME_KEPT,), final_prefix(plan.spec))
    out["final"] = (
        scored_table6_row(final) if final is not None else {"skipped": "no sample was kept"}
    )
    return out


def table6_stats(
    cfg: RecycleConfig, plan: SelectionPlan, final_json: str, n_kept: int
) -> dict[str, Any]:
    """{"original": row, "final": row} under the run's student; a reason where one cannot be made.

    `plan`: the run's plan (`run_plan`); with `plan.table6` its columns hold what the rows need.
    """
    if plan.table6:
        return stats_from_run(cfg, plan)
    reason = embedder_error(cfg.student.coherence_model)
    if reason:
        log.warning("no Table 6 statistics: %s", reason)
        return {"skipped": reason}
    return _rescored(cfg, final_json, n_kept)


def _rescored(cfg: RecycleConfig, final_json: str, n_kept: int) -> dict[str, Any]:
    """The fallback of the modes without a student phase: `recycle stats` on input and output."""
    from recycle.student.stats import dataset_stats

    out: dict[str, Any] = {"original": _row(dataset_stats(cfg))}
    if n_kept == 0:
        out["final"] = {"skipped": "no sample was kept"}
        return out
    final = cfg.model_copy(deep=True)
    final.data.input, final.data.format, final.data.limit = final_json, "json", None
    out["final"] = _row(dataset_stats(final))
    return out


def _row(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in DROP_KEYS}
