"""`recycle agree RUN_A RUN_B`: do two scorers agree on the same rows? (recycle.select.agreement)

Each run directory is one scorer's pass over the same input: typically `recycle score` with the
student and again with a small model (`student.template=none`, Superfiltering), or two pipeline
runs. A run's rows are its candidates for selection: the kept rows and those the selection
dropped (rejects were never scored). Its IFD is `ifd` (a `recycle score` run) or the original
pair's `orig_ifd` (a `recycle run` / `recycle select` run, whose other scores are of pairs that
differ from run to run); likewise r-IFD. Its kept set is compared when its manifest names a
selection mode. Nothing is written and Ray is not started.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from recycle import columns as C
from recycle.errors import InputError
from recycle.rundir import read_manifest, read_outcome
from recycle.select.agreement import TOP_PERCENTS, Agreement, agreement
from recycle.select.modes import STAGE as SELECT_STAGE


def score_column(columns: Sequence[str], base: str) -> str | None:
    """The column holding a run's score `base` of the original rows: `base`, else `orig_<base>`."""
    for name in (base, C.scored(C.ORIG, base)):
        if name in columns:
            return name
    return None


def _manifest(run_dir: str) -> dict:
    try:
        return read_manifest(run_dir)
    except FileNotFoundError:
        raise InputError(
            f"{run_dir!r} is not a run directory (no manifest.json); pass the output.dir of "
            "`recycle score` or `recycle run`"
        ) from None


def _candidates(run_dir: str) -> pd.DataFrame:
    """The kept rows and the rows the selection dropped (the rows a selection ranked)."""
    frames = []
    for outcome in (C.OUTCOME_KEPT, C.OUTCOME_DROPPED):
        table = read_outcome(run_dir, outcome)
        if table is not None:
            frames.append(table.to_pandas())
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        return df
    stage = df[C.STAGE] if C.STAGE in df else pd.Series("", index=df.index)
    by_select = (df[C.OUTCOME] == C.OUTCOME_DROPPED) & (stage == SELECT_STAGE)
    return df[C.kept_mask(df[C.OUTCOME]) | by_select]


def scored_rows(run_dir: str) -> pd.DataFrame:
    """One row per candidate of a run: SAMPLE_ID, IFD, RIFD where the run computed it, OUTCOME
    where the run selected (its manifest names a mode).

    Raises:
        InputError: not a run directory, no candidate rows, or no IFD column.
    """
    manifest = _manifest(run_dir)
    df = _candidates(run_dir)
    what = f"run {run_dir!r} (`recycle {manifest.get('command', '?')}`)"
    if df.empty:
        raise InputError(f"{what} holds no kept or selected rows: nothing was scored")
    ifd, rifd = score_column(df.columns, C.IFD), score_column(df.columns, C.RIFD)
    if ifd is None:
        raise InputError(
            f"{what} has no IFD scores (neither {C.IFD!r} nor {C.scored(C.ORIG, C.IFD)!r}); "
            "score its input with `recycle score`"
        )
    rows = pd.DataFrame({C.SAMPLE_ID: df[C.SAMPLE_ID], C.IFD: df[ifd].astype(float)})
    if rifd is not None:
        rows[C.RIFD] = df[rifd].astype(float)
    if manifest.get("mode"):
        rows[C.OUTCOME] = df[C.OUTCOME]
    return rows.reset_index(drop=True)


def run_agree(run_a: str, run_b: str, percents: Sequence[float] | None = None) -> Agreement:
    """The agreement of two scored runs on the rows they share (joined by sample_id); the top sets
    at `percents` (None: 5, 10 and 15%).

    Raises:
        InputError: a run is not a scored run directory, or the runs share no scored rows.
    """
    result = agreement(scored_rows(run_a), scored_rows(run_b), percents or TOP_PERCENTS)
    return replace(result, runs=(scorer(run_a), scorer(run_b)))


def scorer(run_dir: str) -> str:
    """`RUN_DIR (recycle score: student M, template T)`, from the run's manifest; a `recycle
    select` run names the student of the run it selected from, which scored its rows."""
    manifest = _manifest(run_dir)
    scored_by = manifest
    if manifest.get("selected_from"):
        scored_by = _manifest(manifest["selected_from"])
    student = scored_by.get("config", {}).get("student", {})
    return (
        f"{run_dir} (recycle {manifest.get('command', '?')}: student {student.get('model')}, "
        f"template {student.get('template')})"
    )
