"""Apply a selection mode to rows scored by an earlier run, without the teacher or the student.

The source is a run directory of `recycle run` or `recycle score`. Its rejects are carried over
as they are; its kept and select-dropped rows are selected again under the new mode.

What can be derived follows from the two modes' declarations (recycle.select.declarations): the
new mode needs the reflections it makes to exist in the source, every score its phases declare to
have been computed by the source's phases, and, where it reflects the response, each sample's new
(x1, y1) to be the pair whose response the source had reflected. Anything else is refused with
what is missing and the command that computes it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from recycle import columns as C
from recycle.config import RecycleConfig
from recycle.errors import ConfigError, InputError
from recycle.pipeline.reassemble import conversation_rows
from recycle.pipeline.turns import read_turn_rows
from recycle.rundir import read_manifest, read_outcome
from recycle.select import select_ifd_topk
from recycle.select.checks import pair1_has
from recycle.select.declarations import IFD, IFD_WHERE_RIFD_WINS, MODES, PAIR_NAME, ModeSpec
from recycle.select.modes import STAGE as SELECT_STAGE
from recycle.select.modes import live, select_reflected
from recycle.select.plan import SelectionPlan, as_plan

RERUN = "run `recycle run` with selection.mode={mode} instead (the teacher cache answers every prompt already paid)"


def load_scored(run_dir: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """All rows of a run directory (select drops reset to kept) and its manifest."""
    try:
        manifest = read_manifest(run_dir)
    except FileNotFoundError:
        raise InputError(
            f"{run_dir!r} is not a run directory (no manifest.json); pass the output.dir of `recycle run` or `recycle score`"
        ) from None
    frames = [t.to_pandas() for o in C.OUTCOMES if (t := read_outcome(run_dir, o)) is not None]
    return _selectable(pd.concat(frames, ignore_index=True)), manifest


def _selectable(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with the select drops reset to kept: what a new selection runs over."""
    again = (df[C.OUTCOME] == C.OUTCOME_DROPPED) & (df[C.STAGE] == SELECT_STAGE)
    df.loc[again, [C.OUTCOME, C.REASON, C.DETAIL, C.STAGE]] = [C.OUTCOME_KEPT, "", "", ""]
    return df


def load_turns(run_dir: str) -> pd.DataFrame:
    """The turn rows of a run's conversations (OUTPUT/turns/), select drops reset to kept."""
    turns = read_turn_rows(run_dir)
    return _selectable(turns) if len(turns) else turns


def reselect_conversations(
    rows: pd.DataFrame,
    turns: pd.DataFrame,
    plan: SelectionPlan | RecycleConfig,
    source_mode: str | None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(single rows, turn rows, conversation rows) under the new mode: a run's conversations are
    re-selected turn by turn from their turn rows and reassembled (pipeline/reassemble.py), as
    `recycle run` would have; the global top-k modes select over the rows as they are.
    """
    plan = as_plan(plan)
    if plan.global_topk or not len(turns) or C.TURNS_REFLECTED not in rows:
        return reselect(rows, plan, source_mode), turns.iloc[:0], rows.iloc[:0]
    is_conversation = rows[C.TURNS_REFLECTED].notna()
    singles = rows[~is_conversation]
    if len(singles):
        singles = reselect(singles, plan, source_mode)
    turns = reselect(turns, plan, source_mode)
    conversations = conversation_rows(turns, plan.config, plan.spec.final_filter, set())
    return singles, turns, conversations


def _source_has(source: ModeSpec, prefix: str, phase: int, stat: str) -> bool:
    """Whether the source run computed `stat` of the pair `prefix` (x1's as the source chose it)."""
    if phase == 1:
        return source.phase1.computes(prefix, stat)
    if prefix != C.RES:
        return pair1_has(source, stat)
    gated = stat == IFD_WHERE_RIFD_WINS and source.phase2.computes(C.RES, IFD)
    return source.phase2.computes(C.RES, stat) or gated


def derivation_problems(source: ModeSpec, target: ModeSpec) -> list[str]:
    """What the target mode needs that a run of the source mode did not make (texts, scores)."""
    out = []
    for needed, made, what in (
        (
            target.reflect_instruction,
            source.reflect_instruction,
            "instruction reflections (x_ins, y_ins)",
        ),
        (target.reflect_response, source.reflect_response, "response reflections y_res"),
    ):
        if needed and not made:
            out.append(f"it needs the {what}, which a run of mode {source.name!r} does not make")
    for n, phase in ((1, target.phase1), (2, target.phase2)):
        for prefix, stats in phase.scores.items():
            for stat in stats:
                if not _source_has(source, prefix, n, stat):
                    out.append(
                        f"it reads {stat} of {prefix} {PAIR_NAME[prefix]}, which a run of mode {source.name!r} did not compute"
                    )
    return out  # fmt: skip


def _refuse(source: str, target: str, why: str) -> ConfigError:
    return ConfigError(
        f"selection.mode={target} cannot be derived from this run (mode {source!r}): {why}; "
        + RERUN.format(mode=target)
    )


def _same_x1(df: pd.DataFrame, chosen: pd.DataFrame, source: str, target: ModeSpec) -> None:
    """Refuse when the new (x1, y1) differs from the one whose response the source reflected."""
    if not target.reflect_response:
        return
    old = df[C.INSTRUCTION_REFLECTED].astype("boolean").fillna(False).to_numpy(dtype=bool)
    new = chosen[C.INSTRUCTION_REFLECTED].to_numpy(dtype=bool)
    differ = live(df) & (old != new)
    if differ.any():
        why = (
            f"for {int(differ.sum())} of {int(live(df).sum())} samples it takes a different (x1, y1) "
            "than the source run did, and the teacher never reflected the response of that pair"
        )
        raise _refuse(source, target.name, why)


def reselect(
    df: pd.DataFrame, plan: SelectionPlan | RecycleConfig, source_mode: str | None
) -> pd.DataFrame:
    """The new mode over the loaded rows, as the command planned it when it started (a config:
    its selection planned here).

    Raises:
        ConfigError: the source run lacks a text or a score the new mode reads (the message says
            which, and how many samples, where it is per sample).
    """
    plan = as_plan(plan)
    target = plan.spec
    if plan.global_topk:
        col = C.IFD if C.IFD in df else C.scored(C.ORIG, C.IFD)
        if col not in df:
            raise ConfigError(
                f"selection.mode={target.name} needs IFD scores: run `recycle score` (or `recycle run`) first"
            )
        return select_ifd_topk(df, plan.config, ifd_col=col)
    if source_mode not in MODES or C.INSTRUCTION_REFLECTED not in df:
        raise ConfigError(
            f"selection.mode={target.name} needs the columns of a `recycle run`; this run has no reflections"
        )
    problems = derivation_problems(MODES[source_mode], target)
    if problems:
        raise _refuse(source_mode, target.name, "; ".join(problems))

    def same_x1(chosen: pd.DataFrame) -> pd.DataFrame:
        _same_x1(df, chosen, source_mode, target)
        return chosen

    return select_reflected(df, plan, between=same_x1)
