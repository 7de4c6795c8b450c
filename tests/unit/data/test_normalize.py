import json

import pytest

from recycle import columns as C
from recycle.data import normalize


def norm(obj, source="f.jsonl:1"):
    return normalize.normalize_record(json.dumps(obj), source)


def test_alpaca_row_is_normalized_and_stripped():
    row = norm({"instruction": " Add. ", "input": "1 2", "output": "3\n"})
    assert row[C.OUTCOME] == C.OUTCOME_KEPT
    assert (row[C.INSTRUCTION], row[C.INPUT], row[C.OUTPUT]) == ("Add.", "1 2", "3")
    assert row[C.SAMPLE_ID] == normalize.sample_id("Add.", "1 2", "3")


def test_input_null_or_missing_is_empty():
    a = norm({"instruction": "Hi", "input": None, "output": "Hello"})
    b = norm({"instruction": "Hi", "output": "Hello"})
    c = norm({"instruction": "Hi", "input": "", "output": "Hello"})
    assert a[C.INPUT] == b[C.INPUT] == c[C.INPUT] == ""
    assert a[C.SAMPLE_ID] == b[C.SAMPLE_ID] == c[C.SAMPLE_ID]


def test_sample_id_depends_on_content_only():
    assert (
        norm({"instruction": "a", "output": "b"}, "x:1")[C.SAMPLE_ID]
        == norm({"instruction": "a", "output": "b"}, "y:9")[C.SAMPLE_ID]
    )
    assert normalize.sample_id("a", "", "b") != normalize.sample_id("a", "b", "")


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ([1, 2], normalize.NOT_AN_OBJECT),
        ("text", normalize.NOT_AN_OBJECT),
        ({"instruction": "a"}, normalize.MISSING_FIELD),
        ({"output": "a"}, normalize.MISSING_FIELD),
        ({"instruction": 3, "output": "a"}, normalize.NON_STRING_FIELD),
        ({"instruction": "a", "output": ["x"]}, normalize.NON_STRING_FIELD),
        ({"instruction": "a", "input": 5, "output": "b"}, normalize.NON_STRING_FIELD),
        ({"instruction": "  ", "output": "b"}, normalize.EMPTY_INSTRUCTION),
        ({"instruction": "a", "output": ""}, normalize.EMPTY_OUTPUT),
    ],
)
def test_bad_rows_are_rejected_with_reason(obj, reason):
    row = norm(obj)
    assert row[C.OUTCOME] == C.OUTCOME_REJECTED
    assert row[C.REASON] == reason and row[C.DETAIL]
    assert row[C.RAW] == json.dumps(obj) and row[C.STAGE] == "validate"


def test_unparseable_text_is_rejected_with_raw_kept():
    row = normalize.normalize_record('{"instruction": "a", ', "f.jsonl:3")
    assert row[C.REASON] == normalize.UNPARSEABLE and row[C.RAW] == '{"instruction": "a", '
    row = normalize.normalize_record("whatever", "f.jsonl:4", parse_error="line 4: Expecting value")
    assert row[C.REASON] == normalize.UNPARSEABLE and "line 4" in row[C.DETAIL]


def test_sharegpt_and_messages_first_turn():
    share = norm(
        {"conversations": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A."}]}
    )
    msgs = norm(
        {
            "messages": [
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": "Q?"},
                {"role": "assistant", "content": "A."},
            ]
        }
    )
    for row in (share, msgs):
        assert row[C.OUTCOME] == C.OUTCOME_KEPT
        assert (row[C.INSTRUCTION], row[C.INPUT], row[C.OUTPUT]) == ("Q?", "", "A.")


@pytest.mark.parametrize(
    ("turns", "reason"),
    [
        (  # several exchanges are accepted now (test_conversations.py); out of order is not
            [
                {"from": "human", "value": "1"},
                {"from": "gpt", "value": "2"},
                {"from": "human", "value": "3"},
            ],
            normalize.BAD_CONVERSATION,
        ),
        (
            [{"from": "gpt", "value": "2"}, {"from": "human", "value": "1"}],
            normalize.BAD_CONVERSATION,
        ),
        ([{"from": "human", "value": "1"}], normalize.BAD_CONVERSATION),
        ("not a list", normalize.BAD_CONVERSATION),
        (
            [{"from": "human", "value": 1}, {"from": "gpt", "value": "2"}],
            normalize.NON_STRING_FIELD,
        ),
        ([{"value": "1"}, {"from": "gpt", "value": "2"}], normalize.MISSING_FIELD),
        ([{"from": "human", "value": "1"}, {"from": "gpt", "value": " "}], normalize.EMPTY_OUTPUT),
    ],
)
def test_bad_conversations(turns, reason):
    assert norm({"conversations": turns})[C.REASON] == reason


def test_a_kept_row_of_a_run_is_its_final_pair_not_the_original():
    """kept/ rows hold the original (x0, y0) beside the chosen (x2, y2); fine-tuning on a run
    directory (recycle train, end-to-end) must read the final texts (before this, it trained on
    the originals of the kept rows)."""
    kept = {
        C.SAMPLE_ID: "s1", "instruction": "Old question", "input": "", "output": "Old answer",
        C.FINAL_INSTRUCTION: "Better question", C.FINAL_INPUT: "ctx", C.FINAL_OUTPUT: "Better answer",
        C.MESSAGES: None, C.IFD: 0.5,
    }  # fmt: skip
    row = norm(kept, "kept/part-0.parquet:0")
    assert (row[C.INSTRUCTION], row[C.INPUT], row[C.OUTPUT]) == (
        "Better question", "ctx", "Better answer",
    )  # fmt: skip
    assert row[C.SAMPLE_ID] == normalize.sample_id("Better question", "ctx", "Better answer")
    # a row kept unchanged (final = original) and one without final columns read as before
    same = norm({**kept, C.FINAL_INSTRUCTION: "Old question", C.FINAL_INPUT: "",
                 C.FINAL_OUTPUT: "Old answer"})  # fmt: skip
    plain = norm({"instruction": "Old question", "output": "Old answer"})
    assert (
        same[C.SAMPLE_ID]
        == plain[C.SAMPLE_ID]
        == normalize.sample_id("Old question", "", "Old answer")
    )
