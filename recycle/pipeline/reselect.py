"""Apply a selection mode to rows scored by an earlier run, without the teacher or the student.

The source is a run directory of `recycle run` or `recycle score`. Its rejects are carried over
as they are; its kept and select-dropped rows are selected again under the new mode.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import ray

from recycle import columns as C
from recycle.config import RecycleConfig, redacted
from recycle.errors import ConfigError, InputError
from recycle.pipeline.export import write_alpaca_json
from recycle.ray_utils import init_ray
from recycle.rundir import (
    build_manifest,
    clear_outcomes,
    count_outcomes,
    read_manifest,
    read_outcome,
    write_manifest,
    write_outcomes,
)
from recycle.select import select_ifd_topk
from recycle.select.modes import STAGE as SELECT_STAGE
from recycle.select.modes import choose_response, final_filter, live, step4_win
from recycle.select.rules import MODE_RULES


def load_scored(run_dir: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """All rows of a run directory (select drops reset to kept) and its manifest."""
    try:
        manifest = read_manifest(run_dir)
    except FileNotFoundError:
        raise InputError(
            f"{run_dir!r} is not a run directory (no manifest.json); pass the output.dir of `recycle run` or `recycle score`"
        ) from None
    frames = [t.to_pandas() for o in C.OUTCOMES if (t := read_outcome(run_dir, o)) is not None]
    df = pd.concat(frames, ignore_index=True)
    again = (df[C.OUTCOME] == C.OUTCOME_DROPPED) & (df[C.STAGE] == SELECT_STAGE)
    df.loc[again, [C.OUTCOME, C.REASON, C.DETAIL, C.STAGE]] = [C.OUTCOME_KEPT, "", "", ""]
    return df, manifest


def reselect(df: pd.DataFrame, cfg: RecycleConfig, source_mode: str | None) -> pd.DataFrame:
    """The new mode over the loaded rows."""
    if cfg.selection.mode == "ifd_topk":
        col = C.IFD if C.IFD in df else C.scored(C.ORIG, C.IFD)
        if col not in df:
            raise ConfigError(
                "ifd_topk needs IFD scores: run `recycle score` (or `recycle run`) first"
            )
        return select_ifd_topk(df, cfg.selection, ifd_col=col)
    if C.REFLECT_RESPONSE_STATUS not in df:
        raise ConfigError(
            f"selection.mode={cfg.selection.mode} needs the columns of a `recycle run`; this run has no reflections"
        )
    if _step2_rule(source_mode) is not _step2_rule(cfg.selection.mode):
        raise ConfigError(
            f"the source run chose instructions with mode {source_mode!r}; mode {cfg.selection.mode!r} chooses "
            "differently, and its phase-2 scores would not exist: run `recycle run` with the new mode instead"
        )
    return final_filter(choose_response(df, step4_win(df, cfg.selection) & live(df)), cfg.selection)


def _step2_rule(mode: str | None) -> Any:
    return "always" if mode == "recycle" else MODE_RULES.get(mode or "", (None,))[0]


def run_select(cfg: RecycleConfig) -> dict[str, Any]:
    """Re-select data.input (a run directory) into output.dir; returns the new manifest."""
    if not cfg.data.input:
        raise ConfigError(
            "pass --input RUN_DIR: the run directory of an earlier `recycle run` or `recycle score`"
        )
    t0 = time.perf_counter()
    df, source = load_scored(cfg.data.input)
    n_input = source["counts"]["input"]
    out = reselect(df, cfg, source.get("mode"))
    init_ray(cfg.ray)
    clear_outcomes(cfg.output.dir)
    write_outcomes(ray.data.from_pandas(out), cfg.output.dir)
    timings = {"select": time.perf_counter() - t0}
    extra = {"mode": cfg.selection.mode, "selected_from": cfg.data.input}
    manifest = build_manifest(
        "select", n_input, count_outcomes(cfg.output.dir), redacted(cfg), timings, extra
    )
    manifest["outputs"]["alpaca_json"] = write_alpaca_json(cfg.output.dir)
    write_manifest(cfg.output.dir, manifest)
    return manifest
