"""A conversation's turn rows (pipeline/turns.py) scored by the single-sample scorer: each turn's
IFD pair with its ORIGINAL history before it, r-IFD with the authors' reverse query (no history).
The values must be student/turns.py's for that turn, on every loss."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from recycle import columns as C
from recycle.config.student import StudentConfig
from recycle.data.conversation import Conversation, conversation_id, to_json
from recycle.pipeline.turns import explode_turns
from recycle.student.scoring import score_columns
from recycle.student.turns import score_turns
from recycle.student.variants import Variant
from tests.support.tiny_model import alpaca_rows

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PAIRS = (
    (C.LOSS_Y_GIVEN_X, C.TURNS_LOSS_Y_GIVEN_X),
    (C.LOSS_Y, C.TURNS_LOSS_Y),
    (C.IFD, C.TURNS_IFD),
    (C.LOSS_X_GIVEN_Y, C.TURNS_LOSS_X_GIVEN_Y),
    (C.LOSS_X, C.TURNS_LOSS_X),
    (C.RIFD, C.TURNS_RIFD),
    (C.Y_TOKENS, C.TURNS_Y_TOKENS),
)


def conversations() -> list[Conversation]:
    """3-, 2- and 2-turn conversations of real Alpaca rows, with and without a system prompt."""
    rows = [r for r in alpaca_rows() if not r["input"] and len(r["output"]) < 160][:7]

    def conv(system: str, chunk: list[dict[str, str]]) -> Conversation:
        return Conversation(
            system, tuple(r["instruction"] for r in chunk), tuple(r["output"] for r in chunk)
        )

    return [
        conv("You are a careful assistant.", rows[:3]),
        conv("", rows[3:5]),
        conv("Answer briefly.", rows[5:7]),
    ]


def rows_of(convs: list[Conversation]) -> pd.DataFrame:
    rows = []
    for c in convs:
        messages = c.messages()
        rows.append({
            C.SAMPLE_ID: conversation_id(messages), C.INSTRUCTION: c.users[-1], C.INPUT: "",
            C.OUTPUT: c.answers[-1], C.MESSAGES: to_json(messages), C.OUTCOME: C.OUTCOME_KEPT,
        })  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("template", ["vicuna", "chat"])
def test_turn_rows_score_as_turns_py_scores_each_turn(tiny_student, template):
    model, tok, base = tiny_student
    saved = tok.chat_template
    tok.chat_template = CHATML if template == "chat" else saved
    try:
        check_every_turn(
            model, tok, base.model_copy(update={"template": template, "max_length": 1024})
        )
    finally:
        tok.chat_template = saved


def check_every_turn(model, tok, cfg: StudentConfig) -> None:
    convs = conversations()
    turn_rows = explode_turns(rows_of(convs))
    assert len(turn_rows) == 3 + 2 + 2
    columns = {c: turn_rows[c].tolist() for c in turn_rows.columns}
    out, _ = score_columns(model, tok, columns, [Variant(prefix="", rifd=True)], cfg)
    reference, _ = score_turns(model, tok, convs, cfg)
    k = 0
    for conv, ref in zip(convs, reference, strict=True):
        for t in range(conv.n_turns):
            assert out[C.SCORE_ERROR][k] == ""
            for mine, theirs in PAIRS:
                assert out[mine][k] == pytest.approx(ref[theirs][t], abs=1e-5), (mine, k)
            k += 1


def test_first_turn_without_system_is_the_single_sample(tiny_student):
    """Turn 1 of a conversation without system prompt has an empty history: its scores are the
    single-turn row's (same texts, no history)."""
    model, tok, cfg = tiny_student
    conv = conversations()[1]
    turn_rows = explode_turns(rows_of([conv]))
    single = {C.INSTRUCTION: [conv.users[0]], C.INPUT: [""], C.OUTPUT: [conv.answers[0]]}
    first = {c: turn_rows[c].tolist()[:1] for c in turn_rows.columns}
    v = [Variant(prefix="", rifd=True)]
    a, _ = score_columns(model, tok, first, v, cfg)
    b, _ = score_columns(model, tok, single, v, cfg)
    assert a[C.IFD][0] == pytest.approx(b[C.IFD][0], abs=1e-6) and math.isfinite(a[C.IFD][0])


def test_history_changes_the_conditional_loss_only(tiny_student):
    """Turn 2 scored with its history and as a lone sample: loss_y and the r-IFD losses agree,
    loss_y_given_x differs (the history is context)."""
    model, tok, cfg = tiny_student
    conv = conversations()[0]
    row = explode_turns(rows_of([conv])).iloc[[1]]
    lone = row.drop(columns=[C.TURN_HISTORY])
    v = [Variant(prefix="", rifd=True)]
    a, _ = score_columns(model, tok, {c: row[c].tolist() for c in row.columns}, v, cfg)
    b, _ = score_columns(model, tok, {c: lone[c].tolist() for c in lone.columns}, v, cfg)
    for same in (C.LOSS_Y, C.LOSS_X_GIVEN_Y, C.LOSS_X, C.RIFD):
        assert a[same][0] == pytest.approx(b[same][0], abs=1e-6)
    assert abs(a[C.LOSS_Y_GIVEN_X][0] - b[C.LOSS_Y_GIVEN_X][0]) > 1e-4
