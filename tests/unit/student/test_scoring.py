"""Rows -> score columns: variants, kept rows only, bad inputs as NaN with a reason, start-up checks."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from recycle import columns as C
from recycle.config.student import StudentConfig
from recycle.errors import ConfigError
from recycle.student.model import BATCH_TOKENS, check_student, load_student, resolve_batch_tokens
from recycle.student.planning import plan_pairs
from recycle.student.scoring import NOT_SCORED, error_reasons, score_columns
from recycle.student.scoring_actor import StudentScorer, score_dataset
from recycle.student.sequences import build_pair, prompt_prefix, reverse_query
from recycle.student.variants import Variant, check_variants
from tests.support.tiny_model import alpaca_rows

ORIG = Variant(prefix="orig_", ifd=True, rifd=True)
NEW = Variant(prefix="new_", instruction=C.NEW_INSTRUCTION, input=C.NEW_INPUT, output=C.NEW_OUTPUT)


# The authors' vicuna template (Reflection_Tuning selection_code/data_analysis.py, PROMPT_DICT_VICUNA).
VICUNA = "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. USER: {instruction} ASSISTANT:"
VICUNA_INPUT = "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. USER: {instruction}\nInput:\n{input} ASSISTANT:"


def authors_prefix(row) -> str:
    return (VICUNA_INPUT if row.input else VICUNA).format(
        instruction=row.instruction, input=row.input
    )


def frame(n: int = 4) -> pd.DataFrame:
    rows = alpaca_rows(n)
    df = pd.DataFrame(rows)
    df[C.OUTCOME] = C.OUTCOME_KEPT
    df[C.NEW_INSTRUCTION] = df[C.INSTRUCTION].str.upper()
    df[C.NEW_INPUT] = df[C.INPUT]
    df[C.NEW_OUTPUT] = df[C.OUTPUT].str.lower()
    return df


def test_variant_columns_and_clashes():
    assert NEW.writes == tuple(
        f"new_{c}"
        for c in ("loss_y_given_x", "loss_y", "ifd", "y_tokens", "score_error", "score_truncated")
    )
    assert ORIG.reads == (C.INSTRUCTION, C.INPUT, C.OUTPUT)
    with pytest.raises(ConfigError, match="distinct prefix"):
        check_variants([Variant(), Variant(rifd=True)])
    with pytest.raises(ConfigError, match="neither ifd nor rifd"):
        Variant(ifd=False)


def test_scores_match_the_definition(tiny_student, reference):
    model, tokenizer, cfg = tiny_student
    cfg = cfg.model_copy(update={"max_length": 2048, "batch_tokens": 8192})
    df = frame(3)
    out, stats = score_columns(model, tokenizer, df.to_dict("list"), [ORIG, NEW], cfg)
    row = df.iloc[1]
    assert row.input  # a sample with an input: the authors' with-input template
    x = row.instruction + row.input  # r-IFD's target, as the authors' `instruct_i_ori + input_i`
    cond, uncond = build_pair(tokenizer, authors_prefix(row), row.output, cfg.max_length)
    assert out["orig_loss_y_given_x"][1] == pytest.approx(reference(model, cond), abs=1e-5)
    assert out["orig_loss_y"][1] == pytest.approx(reference(model, uncond), abs=1e-5)
    assert out["orig_ifd"][1] == pytest.approx(
        math.exp(reference(model, cond) - reference(model, uncond)), rel=1e-4
    )
    rcond, runcond = build_pair(
        tokenizer, prompt_prefix("vicuna", reverse_query(row.output)), x, cfg.max_length
    )
    assert out["orig_rifd"][1] == pytest.approx(
        math.exp(reference(model, rcond) - reference(model, runcond)), rel=1e-4
    )
    assert out["orig_y_tokens"][1] == cond.n_target and out["orig_x_tokens"][1] == rcond.n_target
    assert set(out) == set(ORIG.writes) | set(NEW.writes)
    assert "new_rifd" not in out  # not asked for, not computed
    assert not any(out["orig_score_error"]) and not any(out["new_score_error"])
    assert stats.requested == 3 * (4 + 2)


def test_the_micro_batch_budget_follows_the_device_unless_set(tiny_student):
    model, tokenizer, cfg = tiny_student
    assert resolve_batch_tokens(StudentConfig(), "cuda") == BATCH_TOKENS["cuda"] == 16384
    assert resolve_batch_tokens(StudentConfig(), "cpu") == BATCH_TOKENS["cpu"] == 2048
    assert resolve_batch_tokens(StudentConfig(batch_tokens=512), "cuda") == 512
    cols = frame(6).to_dict("list")
    got = {}
    for budget in (None, 512, 16384):
        update = {"max_length": 2048, "batch_tokens": budget}
        got[budget] = score_columns(model, tokenizer, cols, [ORIG], cfg.model_copy(update=update))
    assert got[512][1].forwards > got[None][1].forwards > got[16384][1].forwards == 1
    for budget in (512, 16384):  # the budget changes how sequences are grouped, not their scores
        for name in ("orig_ifd", "orig_rifd"):
            assert got[budget][0][name] == pytest.approx(got[None][0][name], rel=1e-4)


def test_only_requested_rows_are_scored(tiny_student):
    model, tokenizer, cfg = tiny_student
    out, _ = score_columns(model, tokenizer, frame(3).to_dict("list"), [NEW], cfg, rows=[0, 2])
    assert math.isnan(out["new_ifd"][1]) and out["new_score_error"][1].startswith(NOT_SCORED)
    assert not math.isnan(out["new_ifd"][0]) and out["new_score_error"][2] == ""


def test_bad_rows_get_nan_and_a_reason(tiny_student):
    model, tokenizer, _ = tiny_student
    cfg = StudentConfig(model="unused", max_length=100, batch_tokens=512)
    df = frame(3)
    df.loc[0, C.NEW_OUTPUT] = None  # the teacher produced nothing
    df.loc[1, C.NEW_INSTRUCTION] = "word " * 80  # prefix alone longer than max_length
    df.loc[2, [C.NEW_INSTRUCTION, C.NEW_INPUT]] = ["Say it.", ""]
    df.loc[2, C.NEW_OUTPUT] = "long answer " * 80  # longer than max_length: cut, still scored
    out, _ = score_columns(model, tokenizer, df.to_dict("list"), [NEW], cfg)
    assert (
        math.isnan(out["new_ifd"][0])
        and "missing_text: column 'new_output'" in out["new_score_error"][0]
    )
    assert math.isnan(out["new_ifd"][1]) and "no_room_for_target" in out["new_score_error"][1]
    assert (
        out["new_score_truncated"][2] and out["new_score_error"][2] == "" and out["new_ifd"][2] > 0
    )
    assert (
        out["new_y_tokens"][2]
        == 100
        - plan_pairs(tokenizer, "vicuna", 100, df.to_dict("list"), [NEW], [2])[0].cond.target_start
    )


def test_non_finite_losses_give_nan_and_a_reason(tiny_student):
    model, tokenizer, cfg = tiny_student
    head = model.get_output_embeddings().weight
    saved = head.detach().clone()
    try:
        with torch.no_grad():
            head.fill_(math.inf)
        out, _ = score_columns(model, tokenizer, frame(2).to_dict("list"), [NEW], cfg)
    finally:
        with torch.no_grad():
            head.copy_(saved)
    assert all(math.isnan(v) for v in out["new_ifd"])
    assert all(e.startswith("ifd: non_finite_loss") for e in out["new_score_error"])


def test_tokenizer_without_bos_or_pad_scores_like_the_reference(tiny_model_no_bos_dir, reference):
    cfg = StudentConfig(model=str(tiny_model_no_bos_dir), max_length=128, batch_tokens=1024)
    model, tokenizer = load_student(cfg)
    out, _ = score_columns(model, tokenizer, frame(3).to_dict("list"), [Variant()], cfg)
    row = frame(3).iloc[0]
    cond, uncond = build_pair(tokenizer, authors_prefix(row), row.output, 128)
    assert cond.input_ids[0] == tokenizer.eos_token_id
    assert out["loss_y_given_x"][0] == pytest.approx(reference(model, cond), abs=1e-5)
    assert out["loss_y"][0] == pytest.approx(reference(model, uncond), abs=1e-5)


def test_scorer_passes_non_kept_rows_through(tiny_model_dir):
    scorer = StudentScorer(
        {"model": str(tiny_model_dir), "max_length": 512, "batch_tokens": 2048}, [NEW]
    )
    df = frame(3)
    df.loc[1, C.OUTCOME] = C.OUTCOME_REJECTED
    out = scorer(df)
    assert len(out) == 3 and list(out.columns[: len(df.columns)]) == list(df.columns)
    assert out[C.OUTCOME].tolist() == df[C.OUTCOME].tolist()
    assert math.isnan(out["new_ifd"][1]) and out["new_score_error"][1].startswith(NOT_SCORED)
    assert (out["new_ifd"][[0, 2]] > 0).all()
    with pytest.raises(KeyError, match="stage 'score' needs column"):
        scorer(df.drop(columns=[C.NEW_OUTPUT]))


def test_missing_model_path_fails_at_start_up(tmp_path):
    missing = str(tmp_path / "no_such_model")
    with pytest.raises(ConfigError, match="does not exist"):
        check_student(StudentConfig(model=missing))
    with pytest.raises(ConfigError, match="does not exist"):
        StudentScorer({"model": missing}, [Variant()])
    with pytest.raises(ConfigError, match="does not exist"):
        score_dataset(None, StudentConfig(model=missing), [Variant()])  # before any Ray call
    with pytest.raises(ConfigError, match="student.model is not set"):
        check_student(StudentConfig())
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="cannot be loaded"):
        check_student(StudentConfig(model=str(tmp_path / "empty")))


def test_gated_ifd_is_computed_only_where_the_rifd_wins(tiny_student, reference):
    model, tokenizer, cfg = tiny_student
    cfg = cfg.model_copy(update={"max_length": 2048, "batch_tokens": 8192})
    pair1 = Variant(prefix="pair1_", ifd=False, rifd=True)
    res = Variant(prefix="res_", output=C.NEW_OUTPUT, rifd=True, ifd_only_if_rifd_below="pair1_")
    full = Variant(prefix="full_", output=C.NEW_OUTPUT, rifd=True)
    df = frame(8)
    out, stats = score_columns(model, tokenizer, df.to_dict("list"), [pair1, res, full], cfg)
    wins = [a < b for a, b in zip(out["res_rifd"], out["pair1_rifd"], strict=True)]
    assert any(wins) and not all(wins)
    for r, won in enumerate(wins):
        if won:
            assert out["res_ifd"][r] == out["full_ifd"][r] and out["res_score_error"][r] == ""
        else:
            assert math.isnan(out["res_ifd"][r]) and "ifd: not_needed" in out["res_score_error"][r]
    assert out["res_rifd"] == out["full_rifd"]
    with pytest.raises(ConfigError, match="gates its IFD"):
        check_variants([Variant(rifd=True, ifd_only_if_rifd_below="nope_")])
    with pytest.raises(ConfigError, match="needs ifd=True and rifd=True"):
        Variant(ifd_only_if_rifd_below="pair1_")


def test_rifd_where_missing_reuses_the_carried_losses(tiny_student):
    model, tokenizer, cfg = tiny_student
    cfg = cfg.model_copy(update={"max_length": 2048, "batch_tokens": 8192})
    pair1 = Variant(prefix="pair1_", ifd=False, rifd=True, rifd_where_missing=True)
    df = frame(6)
    fresh, fresh_stats = score_columns(model, tokenizer, df.to_dict("list"), [pair1], cfg)
    finite = [r for r in range(6) if math.isfinite(fresh["pair1_rifd"][r])]
    carried_rows = finite[::2]
    assert len(finite) >= 3
    cond = [
        fresh["pair1_loss_x_given_y"][r] + 0.5 if r in carried_rows else math.nan for r in range(6)
    ]
    uncond = [fresh["pair1_loss_x"][r] if r in carried_rows else None for r in range(6)]
    cols = {**df.to_dict("list"), "pair1_loss_x_given_y": cond, "pair1_loss_x": uncond}
    out, stats = score_columns(model, tokenizer, cols, [pair1], cfg)
    for r in range(6):
        if r in carried_rows:  # the carried losses, not a fresh forward (those differ by 0.5)
            assert out["pair1_loss_x_given_y"][r] == cond[r] and out["pair1_loss_x"][r] == uncond[r]
            assert out["pair1_rifd"][r] == pytest.approx(math.exp(cond[r] - uncond[r]))
        else:
            assert out["pair1_loss_x_given_y"][r] == pytest.approx(
                fresh["pair1_loss_x_given_y"][r], abs=1e-5, nan_ok=True
            )
        assert out["pair1_x_tokens"][r] == fresh["pair1_x_tokens"][r]
        assert out["pair1_score_error"][r] == fresh["pair1_score_error"][r]
        assert out["pair1_score_truncated"][r] == fresh["pair1_score_truncated"][r]
    assert stats.requested == fresh_stats.requested - 2 * len(carried_rows)
    without = score_columns(model, tokenizer, df.to_dict("list"), [pair1], cfg)[0]  # none carried
    assert without["pair1_loss_x"] == pytest.approx(fresh["pair1_loss_x"], abs=1e-6, nan_ok=True)
    assert pair1.carried == ("pair1_loss_x_given_y", "pair1_loss_x") and Variant().carried == ()
    with pytest.raises(ConfigError, match="rifd_where_missing needs rifd=True"):
        Variant(rifd_where_missing=True)


def test_error_reasons_name_the_categories():
    assert error_reasons("") == []
    assert error_reasons("ifd: empty_target: no tokens; rifd: no_room_for_target: prefix of 9") == [
        "empty_target",
        "no_room_for_target",
    ]
    assert error_reasons("not_scored: row outcome is not kept") == ["not_scored"]
