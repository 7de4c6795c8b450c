"""Selection on hand-made rows: every branch of the method and each mode, with exact expectations."""

import math

import numpy as np
import pandas as pd
import pytest

from recycle import columns as C
from recycle.config.selection import SelectionConfig
from recycle.select import select_ifd_topk, select_reflected
from recycle.select.modes import (
    IFD_NOT_BELOW_ONE,
    RESPONSE_NOT_REFLECTED,
    RIFD_NOT_BELOW_ONE,
    UNSCORED,
)
from recycle.select.topk import BELOW_TOPK

NAN = math.nan


def row(sid, orig_ifd, ins_ifd, pair1_rifd, res_rifd, res_ifd, ins_ok="ok", res_ok="ok", **extra):
    r = {
        C.SAMPLE_ID: sid,
        C.INSTRUCTION: f"x0-{sid}",
        C.INPUT: "",
        C.OUTPUT: f"y0-{sid}",
        C.NEW_INSTRUCTION: f"xi-{sid}",
        C.NEW_INPUT: "",
        C.NEW_OUTPUT: f"yi-{sid}",
        C.BETTER_OUTPUT: f"yr-{sid}",
        C.REFLECT_INSTRUCTION_STATUS: ins_ok,
        C.REFLECT_RESPONSE_STATUS: res_ok,
        "orig_ifd": orig_ifd,
        "ins_ifd": ins_ifd,
        "res_ifd": res_ifd,
        "res_rifd": res_rifd,
        C.OUTCOME: C.OUTCOME_KEPT,
        C.REASON: "",
        C.DETAIL: "",
        C.STAGE: "",
    }
    r.update(extra)
    return r


def pair1_rifd_after(df, values):
    """Phase 2 computes r-IFD of (x1, y1) after step 2; emulate it by sample id."""
    df = df.copy()
    df["pair1_rifd"] = df[C.SAMPLE_ID].map(values)
    return df


def run_selective(rows, pair1_rifd, **cfg):
    """The selection as production composes it, phase 2's r-IFD of (x1, y1) arriving in between."""
    conf = SelectionConfig(**cfg)
    out = select_reflected(pd.DataFrame(rows), conf, lambda df: pair1_rifd_after(df, pair1_rifd))
    return out.set_index(C.SAMPLE_ID)


def test_four_outcomes_and_the_filter():
    rows = [
        row("both", 0.5, 0.8, 0.9, 0.7, 0.6),  # ins wins (0.8 > 0.5), res wins (0.7 < 0.9)
        row("ins_only", 0.5, 0.8, 0.6, 0.7, 0.6),  # ins wins, res loses (0.7 > 0.6)
        row("res_only", 0.8, 0.5, 0.9, 0.7, 0.6),  # ins loses, res wins
        row("neither", 0.8, 0.5, 0.6, 0.7, 0.6),
    ]
    out = run_selective(rows, {"both": 0.9, "ins_only": 0.6, "res_only": 0.9, "neither": 0.6})
    assert out[C.INSTRUCTION_REFLECTED].to_dict() == {
        "both": True,
        "ins_only": True,
        "res_only": False,
        "neither": False,
    }
    assert out[C.RESPONSE_REFLECTED].to_dict() == {
        "both": True,
        "ins_only": False,
        "res_only": True,
        "neither": False,
    }
    assert (
        out.loc["both", C.FINAL_INSTRUCTION] == "xi-both"
        and out.loc["both", C.FINAL_OUTPUT] == "yr-both"
    )
    assert out.loc["ins_only", C.FINAL_OUTPUT] == "yi-ins_only"
    assert (
        out.loc["res_only", C.FINAL_INSTRUCTION] == "x0-res_only"
        and out.loc["res_only", C.FINAL_OUTPUT] == "yr-res_only"
    )
    assert out.loc["neither", C.FINAL_OUTPUT] == "y0-neither"
    # final scores follow the chosen pair: IFD(x1, y1) comes from phase 1 of the chosen variant
    assert out.loc["ins_only", C.FINAL_IFD] == 0.8 and out.loc["ins_only", C.FINAL_RIFD] == 0.6
    assert out.loc["both", C.FINAL_IFD] == 0.6 and out.loc["both", C.FINAL_RIFD] == 0.7
    assert out[C.OUTCOME].to_dict() == {
        "both": "kept",
        "ins_only": "dropped",
        "res_only": "kept",
        "neither": "dropped",
    }
    assert out.loc["ins_only", C.REASON] == RESPONSE_NOT_REFLECTED


def test_filter_thresholds_and_switches():
    rows = [
        row("hi_ifd", 0.5, 0.4, 0.9, 0.7, 1.2),
        row("hi_rifd", 0.5, 0.4, 1.5, 1.1, 0.6),
        row("ok", 0.5, 0.4, 0.9, 0.7, 0.99),
    ]
    p1 = {"hi_ifd": 0.9, "hi_rifd": 1.5, "ok": 0.9}
    out = run_selective(rows, p1)
    assert out[C.REASON].to_dict() == {
        "hi_ifd": IFD_NOT_BELOW_ONE,
        "hi_rifd": RIFD_NOT_BELOW_ONE,
        "ok": "",
    }
    off = run_selective(rows, p1, require_ifd_below_one=False, require_rifd_below_one=False)
    assert (off[C.OUTCOME] == "kept").all()


def test_failed_reflection_and_nan_never_win():
    rows = [
        row("ins_failed", 0.5, 0.9, 0.9, 0.7, 0.6, ins_ok="unparseable"),
        row("res_failed", 0.5, 0.9, 0.9, 0.7, 0.6, res_ok="unparseable"),
        row("nan", NAN, 0.9, 0.9, NAN, NAN),
    ]
    out = run_selective(
        rows, {"ins_failed": 0.9, "res_failed": 0.9, "nan": 0.9}, require_response_reflected=False
    )
    assert (
        not out.loc["ins_failed", C.INSTRUCTION_REFLECTED]
        and out.loc["ins_failed", C.RESPONSE_REFLECTED]
    )
    assert (
        not out.loc["res_failed", C.RESPONSE_REFLECTED]
        and out.loc["res_failed", C.FINAL_OUTPUT] == "yi-res_failed"
    )
    assert not out.loc["nan", C.INSTRUCTION_REFLECTED] and not out.loc["nan", C.RESPONSE_REFLECTED]
    assert out.loc["nan", C.REASON] == UNSCORED


def test_rejected_rows_pass_through_untouched():
    rej = row("rej", 0.5, 0.9, 0.9, 0.1, 0.1)
    rej.update(
        {
            C.OUTCOME: C.OUTCOME_REJECTED,
            C.REASON: "teacher_bad_request",
            C.STAGE: "reflect_instruction",
        }
    )
    out = run_selective([rej], {"rej": 0.9})
    assert (
        out.loc["rej", C.OUTCOME] == "rejected"
        and out.loc["rej", C.REASON] == "teacher_bad_request"
    )
    assert not out.loc["rej", C.INSTRUCTION_REFLECTED]


def test_recycle_mode_takes_every_reflection_and_drops_nothing():
    rows = [row("a", 0.9, 0.1, 0.1, 0.9, 5.0), row("b", 0.9, 0.1, 0.1, 0.9, 5.0, res_ok="timeout")]
    df = pd.DataFrame(rows)
    df["pair1_rifd"] = 0.1
    out = select_reflected(df, SelectionConfig(mode="recycle")).set_index(C.SAMPLE_ID)
    assert out[C.INSTRUCTION_REFLECTED].all()
    assert out[C.RESPONSE_REFLECTED].to_dict() == {"a": True, "b": False}
    assert (out[C.OUTCOME] == "kept").all() and out.loc["b", C.FINAL_OUTPUT] == "yi-b"


@pytest.mark.parametrize(
    ("mode", "expect_ins"),
    [("ifd_only", True), ("rifd_only", False), ("perplexity", False)],
)
def test_ablation_rules(mode, expect_ins):
    r = row(
        "s",
        0.5,
        0.8,
        0.9,
        0.7,
        0.6,
        orig_rifd=0.3,
        ins_rifd=0.4,
        orig_loss_y_given_x=2.0,
        ins_loss_y_given_x=1.0,
        res_loss_y_given_x=1.0,
    )
    df = pd.DataFrame([r])
    df["pair1_rifd"] = 0.9
    out = select_reflected(df, SelectionConfig(mode=mode, require_response_reflected=False))
    assert bool(out[C.INSTRUCTION_REFLECTED].iloc[0]) is expect_ins


def test_random_mode_is_seeded_and_order_free():
    rows = [row(f"s{i}", 0.5, 0.5, 0.5, 0.5, 0.5) for i in range(200)]
    df = pd.DataFrame(rows)
    df["pair1_rifd"] = 0.5
    cfg = SelectionConfig(mode="random", require_response_reflected=False)
    a = select_reflected(df, cfg).set_index(C.SAMPLE_ID)[C.INSTRUCTION_REFLECTED]
    b = select_reflected(df.iloc[::-1], cfg).set_index(C.SAMPLE_ID)[C.INSTRUCTION_REFLECTED]
    c = select_reflected(
        df, SelectionConfig(mode="random", seed=1, require_response_reflected=False)
    ).set_index(C.SAMPLE_ID)[C.INSTRUCTION_REFLECTED]
    assert a.to_dict() == b.to_dict()
    assert 70 < a.sum() < 130 and (a != c).any()


def test_ifd_topk_percent_and_n():
    ifds = [0.9, 0.2, 0.7, 1.3, NAN, 0.7, 0.5]
    df = pd.DataFrame(
        {
            C.SAMPLE_ID: [f"s{i}" for i in range(7)],
            C.IFD: ifds,
            C.OUTCOME: "kept",
            C.REASON: "",
            C.DETAIL: "",
            C.STAGE: "",
        }
    )
    out = select_ifd_topk(df, SelectionConfig(mode="ifd_topk", topk_n=3)).set_index(C.SAMPLE_ID)
    assert sorted(out.index[out[C.OUTCOME] == "kept"]) == ["s0", "s2", "s5"]
    assert out.loc["s3", C.REASON] == IFD_NOT_BELOW_ONE and out.loc["s4", C.REASON] == UNSCORED
    assert out.loc["s6", C.REASON] == BELOW_TOPK and out.loc["s1", C.REASON] == BELOW_TOPK
    pct = select_ifd_topk(df, SelectionConfig(mode="ifd_topk", topk_percent=30)).set_index(
        C.SAMPLE_ID
    )
    assert sorted(pct.index[pct[C.OUTCOME] == "kept"]) == ["s0", "s2", "s5"]  # ceil(7 * 0.3) = 3
    ties = select_ifd_topk(df, SelectionConfig(mode="ifd_topk", topk_n=2)).set_index(C.SAMPLE_ID)
    assert sorted(ties.index[ties[C.OUTCOME] == "kept"]) == ["s0", "s2"]  # tie 0.7: s2 before s5
    assert np.all((out[C.OUTCOME] == "kept") | (out[C.REASON] != ""))
