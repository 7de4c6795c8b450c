"""Test questions: the five shipped sets, a user's own file, AlpacaEval answers, pairing."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from recycle.errors import InputError
from recycle.eval.pairing import pair_answers
from recycle.eval.questions import (
    load_questions,
    question_fields,
    read_answers,
    write_model_outputs,
)


def test_the_five_sets_normalize_with_their_sizes():
    rows = load_questions(["vicuna", "koala", "wizardlm", "sinstruct", "lima"])
    assert Counter(r["dataset"] for r in rows) == {
        "vicuna": 80, "koala": 180, "wizardlm": 218, "sinstruct": 252, "lima": 300,
    }  # fmt: skip
    assert all(r["instruction"].strip() for r in rows)
    with_input = [r for r in rows if r["input"]]
    assert with_input and {r["dataset"] for r in with_input} == {"sinstruct"}
    assert rows[0]["instruction"] == "How can I improve my time management skills?"
    assert rows[0]["question_id"] == "vicuna/0"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"text": "a"}, ("a", "")),
        ({"prompt": "b"}, ("b", "")),
        ({"Instruction": "c"}, ("c", "")),
        ({"instruction": "d", "instances": [{"input": "e", "output": "f"}]}, ("d", "e")),
        ({"conversations": "g"}, ("g", "")),
        (
            {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "h"}]},
            ("h", ""),
        ),
        ({"instruction": "i", "output": "o", "generator": "m", "dataset": "x"}, ("i", "")),
    ],
)
def test_question_fields_of_each_layout(record, expected):
    assert question_fields(record) == expected


def test_a_users_set_and_a_bad_row(tmp_path):
    good = tmp_path / "mine.jsonl"
    good.write_text(json.dumps({"instruction": "q1"}) + "\n" + json.dumps({"text": "q2"}) + "\n")
    rows = load_questions([str(good)], limit_per_set=1)
    assert [(r["dataset"], r["instruction"]) for r in rows] == [("mine", "q1")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"instruction": "q1"}) + "\n" + json.dumps({"answer": "x"}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: no question field"):
        load_questions([str(bad)])


def test_model_outputs_round_trip_and_pairing(tmp_path):
    rows = [
        {"instruction": "same", "input": "one", "output": "a1", "generator": "A", "dataset": "s"},
        {"instruction": "same", "input": "two", "output": "a2", "generator": "A", "dataset": "s"},
    ]
    path = write_model_outputs(str(tmp_path / "out" / "model_outputs.json"), rows)
    a = read_answers(path)
    assert a == rows
    b = [
        {**r, "output": r["output"].replace("a", "b"), "input": ""} for r in rows
    ]  # no input: fine
    pairs = pair_answers(a, b)
    assert [(p["input"], p["answer_a"], p["answer_b"]) for p in pairs] == [
        ("one", "a1", "b1"),
        ("two", "a2", "b2"),
    ]  # a repeated instruction pairs by occurrence
    with pytest.raises(
        InputError, match=r"1 question\(s\) answered by A have no answer in B: s: 'same' \(#2\)"
    ):
        pair_answers(a, b[:1])
    with pytest.raises(InputError, match="different input"):
        pair_answers(a, [{**b[0], "input": "other"}, b[1]])
