"""IFD and r-IFD per assistant turn: every loss against a one-sequence reference built naively.

The reference of turn t is built here from the texts alone (no code of turn_sequences.py): the
template strings FastChat writes for several turns, tokenized piece by piece, the history as
context, cut at max_length, one sequence per forward with full logits (conftest.reference_nll).
"""

from __future__ import annotations

import functools
import math

import pytest

from recycle import columns as C
from recycle.config.student import StudentConfig
from recycle.data.conversation import Conversation, to_json
from recycle.student.model import load_student
from recycle.student.planning import plan_pairs
from recycle.student.sequences import (
    NO_ROOM_FOR_TARGET,
    TokenSequence,
    prompt_prefix,
    reverse_query,
    start_token_id,
)
from recycle.student.turn_sequences import (
    TEMPLATE_NOT_INCREMENTAL,
    conversation_pieces,
    scoring_sequence,
)
from recycle.student.turns import score_conversation_column, score_turns
from recycle.student.variants import Variant
from tests.support.tiny_gpt2 import build_tiny_gpt2
from tests.support.tiny_model import alpaca_rows

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions."
)
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@functools.cache
def short_rows() -> tuple[dict[str, str], ...]:
    return tuple(
        r
        for r in alpaca_rows()
        if not r["input"] and len(r["output"]) < 160 and len(r["instruction"]) < 90
    )[:10]  # short ones: the machine that runs the tests is small


def conversations() -> list[Conversation]:
    """2- to 4-turn conversations of real Alpaca rows, with and without a system prompt."""
    rows = short_rows()
    out, i = [], 0
    for n, system in (
        (3, "You are a careful assistant."),
        (2, ""),
        (4, "Answer briefly."),
        (1, "Be kind."),
    ):
        chunk = rows[i : i + n]
        i += n
        out.append(
            Conversation(
                system,
                tuple(r["instruction"] for r in chunk),
                tuple(r["output"] for r in chunk),
            )
        )
    return out


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"] if text else []


def fastchat_pieces(template: str, conv: Conversation) -> list[str]:
    """The text before each answer, as FastChat writes several turns (ends are the eos token)."""
    if template == "vicuna":
        first = f"{conv.system or VICUNA_SYSTEM} USER: {conv.users[0]} ASSISTANT:"
        return [first] + [f"USER: {u} ASSISTANT:" for u in conv.users[1:]]
    assert template == "alpaca"
    preamble = conv.system or (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request."
    )
    first = f"{preamble}\n\n### Instruction:\n{conv.users[0]}\n\n### Response:"
    return [first] + [f"### Instruction:\n{u}\n\n### Response:" for u in conv.users[1:]]


def chatml_pieces(conv: Conversation) -> tuple[list[str], list[str]]:
    """ChatML written by hand: the text before each answer, and the end-of-turn text after it."""
    head = f"<|im_start|>system\n{conv.system}<|im_end|>\n" if conv.system else ""
    pieces = [f"{head}<|im_start|>user\n{conv.users[0]}<|im_end|>\n<|im_start|>assistant\n"]
    pieces += [f"<|im_start|>user\n{u}<|im_end|>\n<|im_start|>assistant\n" for u in conv.users[1:]]
    return pieces, ["<|im_end|>\n"] * len(conv.users)


def reference_turns(tok, template: str, conv: Conversation, max_length: int):
    """Per turn: (conditional sequence with the whole history, its kept answer ids) or None when
    the answer starts past max_length."""
    start = start_token_id(tok)
    if template == "chat":
        pieces, ends = chatml_pieces(conv)
        end_ids = [ids(tok, e) for e in ends]
    else:
        pieces = fastchat_pieces(template, conv)
        end_ids = [[tok.eos_token_id]] * len(pieces)
    history, out = [start], []
    for t, (piece, answer) in enumerate(zip(pieces, conv.answers, strict=True)):
        history += ids(tok, piece)
        begin = len(history)
        full = history + ids(tok, answer)
        kept = full[:max_length]
        out.append(TokenSequence(tuple(kept), begin) if len(kept) > begin else None)
        history = full + end_ids[t]
    return out


@pytest.fixture(scope="module")
def gpt2(tiny_artifacts, tiny_model_no_bos_dir):
    folder = build_tiny_gpt2(tiny_artifacts, tiny_model_no_bos_dir)
    model, tok = load_student(StudentConfig(model=str(folder)))
    return model, tok


@pytest.fixture(scope="module")
def llama(tiny_model_dir):
    model, tok = load_student(StudentConfig(model=str(tiny_model_dir)))
    tok.chat_template = CHATML
    return model, tok


def check_against_reference(model, tok, template, max_length, reference, batch_tokens=512):
    convs = conversations()
    cfg = StudentConfig(template=template, max_length=max_length, batch_tokens=batch_tokens)
    rows, _ = score_turns(model, tok, convs, cfg)
    start = start_token_id(tok)
    n_checked = 0
    for conv, row in zip(convs, rows, strict=True):
        refs = reference_turns(tok, template, conv, max_length)
        assert row[C.N_TURNS] == conv.n_turns == len(row[C.TURNS_IFD])
        for t, ref in enumerate(refs):
            if ref is None:
                assert math.isnan(row[C.TURNS_LOSS_Y_GIVEN_X][t])
                assert math.isnan(row[C.TURNS_IFD][t]) and row[C.TURNS_Y_TOKENS][t] == 0
                assert NO_ROOM_FOR_TARGET in row[C.TURNS_SCORE_ERROR][t]
                continue
            cond = reference(model, ref)
            uncond = reference(model, TokenSequence((start, *ref.target_ids), 1))
            query = prompt_prefix(template, reverse_query(conv.answers[t]), tok)
            x = ids(tok, conv.users[t])
            assert row[C.TURNS_LOSS_Y_GIVEN_X][t] == pytest.approx(cond, abs=1e-5)
            assert row[C.TURNS_LOSS_Y][t] == pytest.approx(uncond, abs=1e-5)
            assert row[C.TURNS_IFD][t] == pytest.approx(math.exp(cond - uncond), rel=1e-4)
            assert row[C.TURNS_Y_TOKENS][t] == ref.n_target
            r_ids = (start, *ids(tok, query), *x)[:max_length]  # r-IFD is cut like any pair
            r_start = 1 + len(ids(tok, query))
            if len(r_ids) <= r_start:
                assert math.isnan(row[C.TURNS_RIFD][t]) and row[C.TURNS_X_TOKENS][t] == 0
                assert f"rifd: {NO_ROOM_FOR_TARGET}" in row[C.TURNS_SCORE_ERROR][t]
                continue
            rcond = reference(model, TokenSequence(r_ids, r_start))
            runcond = reference(model, TokenSequence((start, *r_ids[r_start:]), 1))
            assert row[C.TURNS_LOSS_X_GIVEN_Y][t] == pytest.approx(rcond, abs=1e-5)
            assert row[C.TURNS_LOSS_X][t] == pytest.approx(runcond, abs=1e-5)
            assert row[C.TURNS_RIFD][t] == pytest.approx(math.exp(rcond - runcond), rel=1e-4)
            assert row[C.TURNS_X_TOKENS][t] == len(r_ids) - r_start
            cut = ref.n_target < len(ids(tok, conv.answers[t])) or len(r_ids) - r_start < len(x)
            assert row[C.TURNS_TRUNCATED][t] == cut
            assert row[C.TURNS_SCORE_ERROR][t] == ""
            n_checked += 1
    return rows, n_checked


@pytest.mark.parametrize("template", ["vicuna", "alpaca"])
def test_gpt2_every_turn_equals_the_one_sequence_reference(gpt2, reference, template):
    model, tok = gpt2
    _, n = check_against_reference(model, tok, template, 1024, reference)
    assert n == 10  # every turn of every conversation was scored


def test_llama_chat_template_every_turn_equals_the_reference(llama, reference):
    model, tok = llama
    _, n = check_against_reference(model, tok, "chat", 2048, reference)
    assert n == 10


def test_truncation_cuts_one_turn_and_leaves_the_earlier_ones(gpt2, reference):
    """max_length falls inside an answer of the 4-turn conversation: the earlier turns keep their
    scores, that answer is scored on its kept tokens (truncated), the later ones get a reason."""
    model, tok = gpt2
    conv = conversations()[2]
    refs = reference_turns(tok, "vicuna", conv, 10_000)
    cut = refs[1].target_start + 3  # three tokens of answer 2 fit
    rows, _ = check_against_reference(model, tok, "vicuna", cut, reference)
    row = rows[2]
    assert row[C.TURNS_Y_TOKENS][:2] == [refs[0].n_target, 3]
    assert row[C.TURNS_TRUNCATED][1]  # answer 2 was cut
    assert all(NO_ROOM_FOR_TARGET in e for e in row[C.TURNS_SCORE_ERROR][2:])
    assert math.isfinite(row[C.TURNS_IFD][0]) and math.isfinite(row[C.TURNS_IFD][1])


def test_batch_order_and_padding_do_not_change_the_scores(gpt2):
    model, tok = gpt2
    convs = conversations()
    one = [score_turns(model, tok, [c], StudentConfig(template="vicuna"))[0][0] for c in convs]
    for budget, order in ((64, [3, 1, 0, 2]), (100_000, [2, 0, 3, 1])):
        cfg = StudentConfig(template="vicuna", batch_tokens=budget)
        rows, stats = score_turns(model, tok, [convs[i] for i in order], cfg)
        assert stats.forwards >= (1 if budget > 10_000 else 4)
        for i, row in zip(order, rows, strict=True):
            for col in (
                C.TURNS_LOSS_Y_GIVEN_X,
                C.TURNS_LOSS_Y,
                C.TURNS_LOSS_X_GIVEN_Y,
                C.TURNS_LOSS_X,
            ):
                assert row[col] == pytest.approx(one[i][col], abs=1e-5)


def test_one_forward_scores_every_turn_of_a_conversation(gpt2):
    model, tok = gpt2
    convs = conversations()
    _, stats = score_turns(
        model, tok, convs, StudentConfig(template="vicuna", batch_tokens=100_000)
    )
    # the conditional losses of 10 turns: one packed forward of the 4 conversations, plus one
    # forward for the short (unconditional and r-IFD) sequences
    assert stats.forwards == 2 and stats.requested == 4 + 3 * 10


def test_aggregates_are_token_weighted_mean_and_max(gpt2):
    model, tok = gpt2
    rows, _ = score_turns(model, tok, conversations(), StudentConfig(template="vicuna"))
    for row in rows:
        ifd, w = row[C.TURNS_IFD], row[C.TURNS_Y_TOKENS]
        assert row[C.IFD_MEAN] == pytest.approx(
            sum(a * b for a, b in zip(ifd, w, strict=True)) / sum(w)
        )
        assert row[C.IFD_MAX] == max(ifd)
        rifd, wx = row[C.TURNS_RIFD], row[C.TURNS_X_TOKENS]
        assert row[C.RIFD_MEAN] == pytest.approx(
            sum(a * b for a, b in zip(rifd, wx, strict=True)) / sum(wx)
        )
        assert row[C.RIFD_MAX] == max(rifd)


@pytest.mark.parametrize("template", ["vicuna", "alpaca", "wizardlm", "none", "chat"])
def test_one_exchange_without_system_is_the_single_turn_sequence(llama, template):
    model, tok = llama
    row = alpaca_rows(1)[0]
    conv = Conversation("", (row["instruction"],), (row["output"],))
    seq = scoring_sequence(conversation_pieces(tok, template, [conv])[0], 2048)
    cols = {"instruction": [row["instruction"]], "input": [""], "output": [row["output"]]}
    single = plan_pairs(tok, template, 2048, cols, [Variant(rifd=True)], [0])[0].cond
    assert seq.turn(0) == single


def test_a_template_that_rewrites_history_gives_a_reason_not_scores(llama):
    """A chat template that renders earlier turns differently once later turns follow (here: only
    the last answer is written, as some reasoning templates do) has no span per turn."""
    model, tok = llama
    saved = tok.chat_template
    tok.chat_template = (
        "{% for m in messages %}{% if m.role != 'assistant' or loop.last %}"
        "<{{ m.role }}>{{ m.content }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    try:
        rows, _ = score_turns(model, tok, conversations()[:1], StudentConfig(template="chat"))
    finally:
        tok.chat_template = saved
    assert all(TEMPLATE_NOT_INCREMENTAL in e for e in rows[0][C.TURNS_SCORE_ERROR])
    assert math.isnan(rows[0][C.IFD_MEAN]) and rows[0][C.N_TURNS] == 3


def test_messages_column_leaves_single_turn_rows_alone(gpt2):
    model, tok = gpt2
    convs = conversations()
    column = [None, to_json(convs[0].messages()), None, to_json(convs[2].messages())]
    out, _ = score_conversation_column(
        model, tok, column, StudentConfig(template="vicuna"), "orig_"
    )
    assert out["orig_n_turns"] == [0, 3, 0, 4]
    assert out["orig_turns_ifd"][0] is None and len(out["orig_turns_ifd"][3]) == 4
    assert math.isnan(out["orig_ifd_mean"][2]) and math.isfinite(out["orig_ifd_mean"][1])
    direct, _ = score_turns(model, tok, [convs[2]], StudentConfig(template="vicuna"))
    assert out["orig_turns_loss_y_given_x"][3] == pytest.approx(
        direct[0][C.TURNS_LOSS_Y_GIVEN_X], abs=1e-5
    )
