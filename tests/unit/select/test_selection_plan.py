"""The selection plan: made once from the config, it holds what each mode's declaration says
(phases, rules, filter, top-k path), survives the trip to a Ray worker with the table's own rules,
and is what the one composition of the two halves and the benchmarks select with."""

import dataclasses
import math
import pickle

import pandas as pd
import pytest
import ray.cloudpickle

from recycle import columns as C
from recycle.bench.tokens import choose_instruction
from recycle.config import load_config
from recycle.config.selection import SelectionConfig
from recycle.errors import ConfigError
from recycle.select import SelectionPlan, plan_selection, select_reflected
from recycle.select import declarations as D
from recycle.select.modes import select_instruction, select_response
from recycle.select.plan import as_plan
from recycle.select.rules import never
from tests.unit.select.test_modes import row

ORIG, INS, PAIR1, RES = C.ORIG, C.INS, C.PAIR1, C.RES
IFD, RIFD, COH, GATED = D.IFD, D.RIFD, D.COHERENCE, D.IFD_WHERE_RIFD_WINS
P1_IFD = {ORIG: (IFD,), INS: (IFD,)}
P2_FULL = {PAIR1: (RIFD,), RES: (IFD, RIFD)}
# mode: (step 2, step 4, final filter, global top-k, phase 1 scores, phase 2 scores), as the
# declarations' table in declarations.py reads
EXPECTED = {
    "selective": ("higher_ifd", "lower_rifd", True, False, P1_IFD, {PAIR1: (RIFD,), RES: (GATED, RIFD)}),
    "recycle": ("always", "always", False, False, {}, {}),
    "recycle_instruction": ("always", "never", False, False, {}, {}),
    "recycle_response": ("never", "always", False, False, {}, {}),
    "ifd_topk": ("never", "never", False, True, {ORIG: (IFD,)}, {}),
    "perplexity": ("higher_ppl", "lower_ppl", True, False, P1_IFD, P2_FULL),
    "ifd_only": ("higher_ifd", "higher_ifd", True, False, P1_IFD, P2_FULL),
    "rifd_only": ("lower_rifd", "lower_rifd", True, False, {ORIG: (IFD, RIFD), INS: (IFD, RIFD)},
                  {RES: (IFD, RIFD)}),
    "coherence": ("higher_coherence", "higher_coherence", True, False,
                  {ORIG: (IFD, COH), INS: (IFD, COH)}, {PAIR1: (RIFD,), RES: (IFD, RIFD, COH)}),
    "random": ("coin", "coin", True, False, P1_IFD, P2_FULL),
}  # fmt: skip


def test_every_mode_is_planned():
    assert set(EXPECTED) == set(D.mode_names())


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_each_modes_plan_has_the_phases_and_rules_its_declaration_says(mode):
    plan = plan_selection(SelectionConfig(mode=mode, seed=7))
    step2, step4, final_filter, topk, phase1, phase2 = EXPECTED[mode]
    assert (plan.mode, plan.spec.step2.name, plan.spec.step4.name) == (mode, step2, step4)
    assert (plan.spec.final_filter, plan.global_topk, plan.table6) == (final_filter, topk, False)
    assert dict(plan.spec.phase1.scores) == phase1 and dict(plan.spec.phase2.scores) == phase2
    assert plan.config.seed == 7


def test_the_plan_keeps_a_copy_of_the_selection_it_was_made_from():
    cfg = load_config(None, ["selection.mode=ifd_only", "selection.require_ifd_below_one=false"])
    plan = plan_selection(cfg.selection)
    cfg.selection.mode, cfg.selection.require_ifd_below_one = "recycle", True
    assert plan.mode == "ifd_only" and plan.config.mode == "ifd_only"
    assert plan.config.require_ifd_below_one is False


def test_an_unknown_mode_is_refused_naming_the_known_ones():
    with pytest.raises(
        ConfigError, match=r"unknown selection.mode 'selectiv'; use one of selective"
    ):
        plan_selection(SelectionConfig(mode="selectiv"))


def test_a_broken_declaration_is_refused_when_planned(monkeypatch):
    broken = dataclasses.replace(
        D.MODES["selective"], name="broken", phase1=D.Phase("score_phase1", {ORIG: (IFD,)})
    )
    monkeypatch.setitem(D.MODES, "broken", broken)
    with pytest.raises(ConfigError, match=r"reads ifd of ins_ .*score_phase1 does not compute"):
        plan_selection(SelectionConfig(mode="broken"))


def test_table6_widens_phase_1_only_where_the_mode_has_a_student():
    selective = plan_selection(SelectionConfig()).with_table6()
    assert selective.table6 and selective.spec.phase1.scores[ORIG] == (IFD, RIFD)
    assert selective.spec.phase1.scores[INS] == (IFD,) and selective.spec.step2.name == "higher_ifd"
    recycle = plan_selection(SelectionConfig(mode="recycle"))
    assert recycle.with_table6() is recycle and not recycle.table6  # statistics after the run


@pytest.mark.parametrize("dumps", [pickle.dumps, ray.cloudpickle.dumps])
def test_a_pickled_plan_holds_the_tables_own_rules(dumps):
    plan = plan_selection(SelectionConfig(mode="recycle_response", seed=3))
    copy = pickle.loads(dumps(plan))
    assert copy == plan and copy.spec.step2 is never and copy.spec.step4 is D.MODES["recycle"].step4
    assert copy.config.seed == 3


def test_as_plan_takes_a_plan_as_it_is_and_plans_a_config():
    plan = plan_selection(SelectionConfig(mode="perplexity"))
    assert as_plan(plan) is plan
    assert as_plan(SelectionConfig(mode="perplexity")) == plan
    assert as_plan(load_config(None, ["selection.mode=perplexity"])) == plan


def test_the_halves_run_in_order_with_what_comes_between():
    seen = []
    plan = plan_selection(SelectionConfig(mode="recycle"))

    def run_half(rows, half):
        seen.append(half.__name__)
        return rows + [half.__name__]

    def between(rows):
        seen.append("between")
        return rows + ["between"]

    out = select_reflected([], plan, between, run_half)
    assert seen == ["select_instruction", "between", "select_response"] and out == seen


def test_the_composition_selects_with_the_plan_it_is_handed_not_its_config():
    rows = pd.DataFrame([row("a", 0.5, 0.8, 0.6, 0.7, 0.6), row("b", 0.8, 0.5, 0.9, 0.7, 0.6)])
    rows["pair1_rifd"] = [0.6, 0.9]
    plan = plan_selection(SelectionConfig(mode="selective", require_response_reflected=False))
    recycle = dataclasses.replace(
        plan, spec=D.MODES["recycle"]
    )  # selective's config, recycle's spec
    out = select_reflected(rows, recycle).set_index(C.SAMPLE_ID)
    assert out[C.INSTRUCTION_REFLECTED].to_dict() == {"a": True, "b": True}  # `always`
    assert out[C.RESPONSE_REFLECTED].to_dict() == {"a": True, "b": True}
    assert (out[C.OUTCOME] == C.OUTCOME_KEPT).all()  # recycle has no final filter
    by_halves = select_response(select_instruction(rows, recycle), recycle).set_index(C.SAMPLE_ID)
    pd.testing.assert_frame_equal(out, by_halves)
    selective = select_reflected(rows, plan).set_index(C.SAMPLE_ID)
    assert selective[C.INSTRUCTION_REFLECTED].to_dict() == {"a": True, "b": False}


def test_the_token_benchmark_chooses_by_the_plans_own_rule():
    cols = {
        C.INSTRUCTION: ["x0", "x0", "x0"], C.INPUT: ["", "in", ""], C.OUTPUT: ["y0", "y0", "y0"],
        C.NEW_INSTRUCTION: ["xi", "xi", "xi"], C.NEW_INPUT: ["", "in2", ""],
        C.NEW_OUTPUT: ["yi", "yi", "yi"],
    }  # fmt: skip
    out = {C.scored(ORIG, IFD): [0.5, 0.8, 0.5], C.scored(INS, IFD): [0.8, 0.5, math.nan]}
    selective = dict(cols)
    choose_instruction(selective, out)  # the default plan: higher IFD wins, a NaN never does
    assert selective[C.INSTRUCTION_1] == ["xi", "x0", "x0"]
    assert selective[C.INPUT_1] == ["", "in", ""] and selective[C.OUTPUT_1] == ["yi", "y0", "y0"]
    assert selective[C.BETTER_OUTPUT] == ["yi\n\ny", "y0\n\ny", "y0\n\ny"]  # simulated y_res
    recycle = dict(cols)
    choose_instruction(recycle, out, plan_selection(SelectionConfig(mode="recycle")))
    assert recycle[C.INSTRUCTION_1] == ["xi", "xi", "xi"] and recycle[C.INPUT_1][1] == "in2"


def test_a_plan_is_a_frozen_value():
    plan = plan_selection(SelectionConfig())
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.table6 = True  # type: ignore[misc]
    assert isinstance(plan, SelectionPlan)
