"""Selection modes over scored rows: which pair each sample ends with, and which samples stay.

Pure functions over a pandas DataFrame holding the pipeline's columns (recycle.columns). Only rows
whose OUTCOME is "kept" are touched; rows already rejected upstream pass through unchanged.

What each mode does (its rules, phases and filter) is declared once, in declarations.py, and
resolved once a run, into the plan it is handed (plan.py); the functions here only apply a plan.
ifd_topk's global choice is in topk.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd

from recycle import columns as C
from recycle.config.selection import SelectionConfig
from recycle.select.plan import SelectionPlan, as_plan
from recycle.select.rules import as_bool, never

# Drop reasons of the final filter.
UNSCORED = "unscored"
RESPONSE_NOT_REFLECTED = "response_not_reflected"
IFD_NOT_BELOW_ONE = "ifd_not_below_one"
RIFD_NOT_BELOW_ONE = "rifd_not_below_one"
STAGE = "select"
PAIR_SCORES = (C.IFD, C.RIFD, C.LOSS_Y_GIVEN_X, C.LOSS_Y, C.LOSS_X_GIVEN_Y, C.LOSS_X, C.COHERENCE)
# what the chosen pair's Table 6 row reads besides its scores (carried by both choices)
PAIR_LENGTHS = (C.X_TOKENS, C.Y_TOKENS)
FINAL = "final_"  # prefix of the final pair's carried scores: final_ifd, final_loss_x, ...
Half = Callable[[pd.DataFrame, SelectionPlan], pd.DataFrame]  # a half of the selection
Rows = TypeVar("Rows")  # what the halves run over: a DataFrame, or the stream's Ray Dataset


def live(df: pd.DataFrame) -> np.ndarray:
    """Rows still in play: not dropped or rejected by an earlier step."""
    return C.kept_mask(df[C.OUTCOME])


def _ok(df: pd.DataFrame, status_col: str) -> np.ndarray:
    C.require_columns(STAGE, df.columns, (status_col,))
    return (df[status_col] == "ok").to_numpy()


def _take(df: pd.DataFrame, win: np.ndarray, out: str, if_win: str, otherwise: str) -> None:
    """df[out] = if_win where `win`, else otherwise; a column no row takes may be absent."""
    if otherwise not in df.columns:
        return
    if if_win in df.columns:
        df[out] = np.where(win, df[if_win], df[otherwise])
    elif not win.any():
        df[out] = df[otherwise]


def choose_instruction(df: pd.DataFrame, win: np.ndarray) -> pd.DataFrame:
    """Step 2: (x1, y1) = (x_ins, y_ins) where `win`, else (x0, y0); PAIR1_* scores follow."""
    df = df.copy()
    df[C.INSTRUCTION_REFLECTED] = win
    _take(df, win, C.INSTRUCTION_1, C.NEW_INSTRUCTION, C.INSTRUCTION)
    _take(df, win, C.INPUT_1, C.NEW_INPUT, C.INPUT)
    _take(df, win, C.OUTPUT_1, C.NEW_OUTPUT, C.OUTPUT)
    for base in PAIR_SCORES + PAIR_LENGTHS:
        _take(df, win, C.scored(C.PAIR1, base), C.scored(C.INS, base), C.scored(C.ORIG, base))
    return df


def choose_response(df: pd.DataFrame, win: np.ndarray) -> pd.DataFrame:
    """Step 4: (x2, y2) = (x1, y_res) where `win`, else (x1, y1); its scores follow as final_*.

    final_ifd and final_rifd feed the filter; the losses and lengths feed Table 6.
    """
    df = df.copy()
    df[C.RESPONSE_REFLECTED] = win
    df[C.FINAL_INSTRUCTION] = df[C.INSTRUCTION_1]
    df[C.FINAL_INPUT] = df[C.INPUT_1]
    _take(df, win, C.FINAL_OUTPUT, C.BETTER_OUTPUT, C.OUTPUT_1)
    for base in PAIR_SCORES + PAIR_LENGTHS:  # final_ifd == C.FINAL_IFD, final_rifd == C.FINAL_RIFD
        _take(df, win, C.scored(FINAL, base), C.scored(C.RES, base), C.scored(C.PAIR1, base))
    return df


def step2_win(df: pd.DataFrame, plan: SelectionPlan) -> np.ndarray:
    """Where the reflected instruction replaces the original, under the plan's step-2 rule."""
    rule = plan.spec.step2
    if rule is never:
        return np.zeros(len(df), dtype=bool)
    seed = plan.config.seed
    return _ok(df, C.REFLECT_INSTRUCTION_STATUS) & as_bool(rule(df, C.ORIG, C.INS, seed))


def step4_win(df: pd.DataFrame, plan: SelectionPlan) -> np.ndarray:
    """Where the reflected response replaces y1, under the plan's step-4 rule."""
    rule = plan.spec.step4
    if rule is never:
        return np.zeros(len(df), dtype=bool)
    seed = plan.config.seed
    return _ok(df, C.REFLECT_RESPONSE_STATUS) & as_bool(rule(df, C.PAIR1, C.RES, seed))


def drop(df: pd.DataFrame, mask: np.ndarray, reason: str, detail: str) -> None:
    """Mark live rows under `mask` dropped with a reason (in place); first reason wins."""
    hit = mask & live(df)
    df.loc[hit, [C.OUTCOME, C.REASON, C.DETAIL, C.STAGE]] = [
        C.OUTCOME_DROPPED,
        reason,
        detail,
        STAGE,
    ]


def final_filter(df: pd.DataFrame, cfg: SelectionConfig) -> pd.DataFrame:
    """The authors' filter with its three switches; each dropped row gets its reason."""
    df = df.copy()
    ifd, rifd = df[C.FINAL_IFD].astype(float).to_numpy(), df[C.FINAL_RIFD].astype(float).to_numpy()
    if cfg.require_ifd_below_one or cfg.require_rifd_below_one:
        nan = (np.isnan(ifd) & cfg.require_ifd_below_one) | (
            np.isnan(rifd) & cfg.require_rifd_below_one
        )
        drop(df, nan, UNSCORED, "the student could not score the final pair (see score_error)")
    if cfg.require_response_reflected:
        drop(
            df,
            ~df[C.RESPONSE_REFLECTED].to_numpy(dtype=bool),
            RESPONSE_NOT_REFLECTED,
            "the reflected response was not taken",
        )
    if cfg.require_ifd_below_one:
        drop(df, ifd >= 1.0, IFD_NOT_BELOW_ONE, "IFD(x2, y2) >= 1")
    if cfg.require_rifd_below_one:
        drop(df, rifd >= 1.0, RIFD_NOT_BELOW_ONE, "r-IFD(x2, y2) >= 1")
    return df


def select_instruction(df: pd.DataFrame, plan: SelectionPlan) -> pd.DataFrame:
    """The first half of the selection: step 2 picks (x1, y1) under the plan's rule."""
    return choose_instruction(df, step2_win(df, plan) & live(df))


def select_response(df: pd.DataFrame, plan: SelectionPlan) -> pd.DataFrame:
    """The second half: step 4 picks y2, then the final filter when the plan has one."""
    df = choose_response(df, step4_win(df, plan) & live(df))
    return final_filter(df, plan.config) if plan.spec.final_filter else df


def _on_frame(plan: SelectionPlan) -> Callable[[pd.DataFrame, Half], pd.DataFrame]:
    return lambda df, half: half(df, plan)


def select_reflected(
    rows: Rows,
    selection: SelectionPlan | SelectionConfig,
    between: Callable[[Rows], Rows] | None = None,
    run_half: Callable[[Rows, Half], Rows] | None = None,
) -> Rows:
    """The selection steps in their order: the one composition of the two halves.

    The stream (pipeline.graph) runs each half as a Ray Data step over its dataset
    (`run_half`, pipeline.choose), the response of (x1, y1) reflected and scored in `between`;
    `recycle select` (pipeline.reselect) and the tests run them here on a DataFrame whose rows
    hold phase 1 and phase 2 columns already.

    Args:
        rows: scored rows (rows not kept pass through unchanged), or the stream's dataset.
        selection: the run's plan (a config is planned here: plan.as_plan).
        between: what happens to the rows after step 2 and before step 4 (a check, or the
            reflection and scores of phase 2); None: nothing.
        run_half: how a half (select_instruction, then select_response) runs over `rows`;
            None: called on the DataFrame.
    """
    plan = as_plan(selection)
    run = run_half or _on_frame(plan)
    chosen = run(rows, select_instruction)
    if between is not None:
        chosen = between(chosen)
    return run(chosen, select_response)
