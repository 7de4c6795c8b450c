"""Mode declarations: every shipped mode is consistent, a broken one is refused with the score and
phase named (before any request), and the two Table 4 modes pick the pairs they say."""

import dataclasses

import pandas as pd
import pytest

from recycle import columns as C
from recycle.config.selection import SelectionConfig
from recycle.errors import ConfigError
from recycle.pipeline.graph import phase1_variants, phase2_variants
from recycle.select import declarations as select_declarations
from recycle.select import select_reflected
from recycle.select.checks import check_mode, mode_problems
from recycle.select.rules import lower_ppl, lower_rifd
from recycle.student import Variant
from tests.unit.select.test_modes import row


@pytest.mark.parametrize("name", select_declarations.mode_names())
def test_every_shipped_mode_passes_its_start_up_check(name):
    assert mode_problems(select_declarations.mode_spec(name)) == []


def test_what_each_mode_costs():
    calls = {
        n: select_declarations.mode_spec(n).teacher_calls for n in select_declarations.mode_names()
    }
    assert calls == {
        "selective": 2, "recycle": 2, "recycle_instruction": 1, "recycle_response": 1,
        "ifd_topk": 0, "perplexity": 2, "ifd_only": 2, "rifd_only": 2, "coherence": 2, "random": 2,
    }  # fmt: skip
    student = {
        n
        for n in select_declarations.mode_names()
        if select_declarations.mode_spec(n).needs_student
    }
    assert student == set(select_declarations.mode_names()) - {
        "recycle",
        "recycle_instruction",
        "recycle_response",
    }
    assert [
        n
        for n in select_declarations.mode_names()
        if select_declarations.mode_spec(n).needs_embedder
    ] == ["coherence"]
    assert select_declarations.mode_spec("recycle_instruction").reflect_instruction
    assert not select_declarations.mode_spec("recycle_instruction").reflect_response
    assert select_declarations.mode_spec("recycle_response").reflect_response
    assert not select_declarations.mode_spec("recycle_response").reflect_instruction


def test_a_rule_reading_a_score_no_phase_computes_is_refused_naming_score_and_phase():
    # step 4 by perplexity, while phase 2 computes only r-IFD of the response-reflected pair
    broken = dataclasses.replace(
        select_declarations.mode_spec("selective"),
        name="broken",
        step4=lower_ppl,
        phase2=select_declarations.Phase(
            "score_phase2",
            {C.PAIR1: (select_declarations.RIFD,), C.RES: (select_declarations.RIFD,)},
        ),
    )
    with pytest.raises(ConfigError) as err:
        check_mode(broken)
    msg = str(err.value)
    assert "'broken'" in msg and "lower_ppl" in msg
    assert "loss_y_given_x of res_" in msg and "score_phase2 does not compute" in msg
    assert "of pair1_" not in msg  # the perplexity of (x1, y1) is carried over from phase 1
    assert "the final filter reads ifd of res_" in msg


def test_a_gated_ifd_serves_the_filter_only_under_the_r_ifd_rule():
    selective = select_declarations.mode_spec("selective")
    assert check_mode(selective) is None
    by_ifd = dataclasses.replace(
        selective, name="gated_ifd_only", step4=select_declarations.higher_ifd
    )
    assert any("step-4 rule higher_ifd reads ifd of res_" in p for p in mode_problems(by_ifd))
    no_step2_score = dataclasses.replace(
        selective, name="x", phase1=select_declarations.Phase("score_phase1", {})
    )
    assert any(
        "step-2 rule higher_ifd reads ifd of orig_" in p for p in mode_problems(no_step2_score)
    )


@pytest.mark.integration  # the local teacher server
def test_a_broken_mode_stops_run_before_ray_or_any_request(monkeypatch, tmp_path):
    from recycle.commands.pipeline import run_pipeline
    from recycle.config import load_config
    from recycle.testing.local_server import LocalTeacherServer

    broken = dataclasses.replace(
        select_declarations.mode_spec("selective"),
        name="broken",
        phase1=select_declarations.Phase("score_phase1", {C.ORIG: (select_declarations.IFD,)}),
    )
    monkeypatch.setitem(select_declarations.MODES, "broken", broken)
    data = tmp_path / "d.jsonl"
    data.write_text('{"instruction": "Name a colour.", "output": "Blue."}\n')
    with LocalTeacherServer() as server:
        cfg = load_config(None, [
            f"data.input='{data}'", f"output.dir='{tmp_path / 'out'}'", "selection.mode=broken",
            f"teacher.base_url={server.base_url}", "teacher.model=local-teacher",
            f"student.model='{tmp_path}'",
        ])  # fmt: skip
        with pytest.raises(ConfigError, match=r"reads ifd of ins_ .*score_phase1 does not compute"):
            run_pipeline(cfg, preflight=False)  # the mode's check, not the student folder's
        assert server.stats.requests == 0
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_phase_variants_follow_the_declaration():
    assert phase1_variants("selective") == [
        Variant(prefix=C.ORIG),
        Variant(
            prefix=C.INS, instruction=C.NEW_INSTRUCTION, input=C.NEW_INPUT, output=C.NEW_OUTPUT
        ),
    ]
    x1 = {"instruction": C.INSTRUCTION_1, "input": C.INPUT_1}
    assert phase2_variants("selective") == [
        # pair1's r-IFD is scored only where step 2 did not carry it from phase 1
        Variant(
            prefix=C.PAIR1, output=C.OUTPUT_1, ifd=False, rifd=True, rifd_where_missing=True, **x1
        ),  # fmt: skip
        Variant(
            prefix=C.RES, output=C.BETTER_OUTPUT, rifd=True, ifd_only_if_rifd_below=C.PAIR1, **x1
        ),
    ]
    assert [v.rifd for v in phase1_variants("rifd_only")] == [True, True]
    assert [v.prefix for v in phase2_variants("rifd_only")] == [C.RES]  # pair1's r-IFD is carried
    assert phase2_variants("perplexity")[1].ifd_only_if_rifd_below is None
    for name in ("recycle", "recycle_instruction", "recycle_response"):
        assert phase1_variants(name) == [] and phase2_variants(name) == []


def test_declared_step4_of_selective_is_the_authors_rule():
    assert select_declarations.mode_spec("selective").step4 is lower_rifd


def _frame(**extra):
    rows = [
        row("a", 0.5, 0.8, 0.9, 0.7, 0.6),
        row("b", 0.5, 0.8, 0.9, 0.7, 0.6, ins_ok="unparseable", res_ok="timeout"),
    ]
    df = pd.DataFrame(rows)
    for col, value in extra.items():
        df[col] = value
    return df


def test_recycle_instruction_takes_the_reflected_pair_and_no_response():
    df = _frame().drop(columns=[C.BETTER_OUTPUT, C.REFLECT_RESPONSE_STATUS, "res_ifd", "res_rifd"])
    out = select_reflected(df, SelectionConfig(mode="recycle_instruction")).set_index(C.SAMPLE_ID)
    assert out[C.INSTRUCTION_REFLECTED].to_dict() == {"a": True, "b": False}
    assert not out[C.RESPONSE_REFLECTED].any() and (out[C.OUTCOME] == "kept").all()
    assert out[C.FINAL_INSTRUCTION].to_dict() == {"a": "xi-a", "b": "x0-b"}
    assert out[C.FINAL_OUTPUT].to_dict() == {"a": "yi-a", "b": "y0-b"}


def test_recycle_response_takes_the_reflected_response_of_the_original():
    df = _frame().drop(columns=[C.NEW_INSTRUCTION, C.NEW_INPUT, C.NEW_OUTPUT])
    df = df.drop(
        columns=[C.REFLECT_INSTRUCTION_STATUS, "orig_ifd", "ins_ifd", "res_ifd", "res_rifd"]
    )
    out = select_reflected(df, SelectionConfig(mode="recycle_response")).set_index(C.SAMPLE_ID)
    assert not out[C.INSTRUCTION_REFLECTED].any()
    assert out[C.RESPONSE_REFLECTED].to_dict() == {"a": True, "b": False}
    assert out[C.FINAL_INSTRUCTION].to_dict() == {"a": "x0-a", "b": "x0-b"}
    assert out[C.FINAL_OUTPUT].to_dict() == {"a": "yr-a", "b": "y0-b"}
    assert (out[C.OUTCOME] == "kept").all()
