"""Conversations in: ShareGPT and `messages` rows with any number of exchanges and a system prompt."""

import json

import pytest

from recycle import columns as C
from recycle.data import conversation, normalize

SHARE4 = {
    "conversations": [
        {"from": "system", "value": " Be brief. "},
        {"from": "human", "value": "Hi"},
        {"from": "gpt", "value": "Hello!"},
        {"from": "human", "value": "Capital of France?"},
        {"from": "gpt", "value": "Paris. "},
    ]
}
MESSAGES4 = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ]
}
NORMALIZED = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "content": "Paris."},
]


def norm(obj, source="f.jsonl:1"):
    return normalize.normalize_record(json.dumps(obj), source)


def test_sharegpt_and_messages_give_the_same_conversation_row():
    a, b = norm(SHARE4), norm(MESSAGES4, "other.jsonl:7")
    for row in (a, b):
        assert row[C.OUTCOME] == C.OUTCOME_KEPT
        assert json.loads(row[C.MESSAGES]) == NORMALIZED
        # single-row code sees the last exchange, without history
        assert (row[C.INSTRUCTION], row[C.INPUT], row[C.OUTPUT]) == (
            "Capital of France?",
            "",
            "Paris.",
        )
    assert a[C.SAMPLE_ID] == b[C.SAMPLE_ID] == conversation.conversation_id(NORMALIZED)
    # the id covers the whole conversation: another system prompt or earlier turn, another id
    other = json.loads(json.dumps(MESSAGES4))
    other["messages"][2]["content"] = "Hey."
    assert norm(other)[C.SAMPLE_ID] != a[C.SAMPLE_ID]
    no_system = {"messages": MESSAGES4["messages"][1:]}
    assert norm(no_system)[C.SAMPLE_ID] != a[C.SAMPLE_ID]
    assert norm(no_system)[C.SAMPLE_ID] != normalize.sample_id("Capital of France?", "", "Paris.")


def test_one_exchange_without_system_is_the_single_turn_sample():
    for obj in (
        {"conversations": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A."}]},
        {"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]},
        {  # an empty system prompt is no system prompt
            "messages": [
                {"role": "system", "content": " "},
                {"role": "user", "content": "Q?"},
                {"role": "assistant", "content": "A."},
            ]
        },
    ):
        row = norm(obj)
        assert row[C.MESSAGES] is None
        assert row[C.SAMPLE_ID] == normalize.sample_id("Q?", "", "A.")
        assert row == norm({"instruction": "Q?", "output": "A."}) | {C.RAW: json.dumps(obj)}


def test_one_exchange_with_a_system_prompt_is_a_conversation():
    row = norm({"system": "Be kind.", "conversations": SHARE4["conversations"][1:3]})
    assert json.loads(row[C.MESSAGES]) == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    assert (row[C.INSTRUCTION], row[C.OUTPUT]) == ("Hi", "Hello!")


def test_a_row_written_by_recycle_reads_back_the_same():
    """A kept row (e.g. the run's kept/ Parquet read for training) holds `messages` as JSON text."""
    first = norm(MESSAGES4)
    again = normalize.normalize_record(json.dumps(first), "kept.parquet:0")
    assert again[C.SAMPLE_ID] == first[C.SAMPLE_ID] and again[C.MESSAGES] == first[C.MESSAGES]
    single = norm({"instruction": "Q?", "output": "A."})
    again = normalize.normalize_record(json.dumps(single), "kept.parquet:1")
    assert again[C.SAMPLE_ID] == single[C.SAMPLE_ID] and again[C.MESSAGES] is None


def test_parsed_conversation():
    conv = conversation.parse(norm(MESSAGES4)[C.MESSAGES])
    assert conv.system == "Be brief." and conv.n_turns == 2
    assert conv.users == ("Hi", "Capital of France?") and conv.answers == ("Hello!", "Paris.")
    assert conv.messages() == NORMALIZED
    assert conv.messages(2, answered=False) == NORMALIZED[:-1]
    assert conv.messages(1) == NORMALIZED[:3]


U, A = {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        ([U, A, U], normalize.BAD_CONVERSATION),  # no answer at the end
        ([U, U, A], normalize.BAD_CONVERSATION),
        ([U, A, A], normalize.BAD_CONVERSATION),
        ([A, U, A], normalize.BAD_CONVERSATION),
        ([U, A, {"role": "system", "content": "late"}, U, A], normalize.BAD_CONVERSATION),
        ([{"role": "system", "content": "s"}], normalize.BAD_CONVERSATION),
        ([], normalize.BAD_CONVERSATION),
        ([U, A, U, {"role": "assistant", "content": "  "}], normalize.EMPTY_OUTPUT),
        ([U, A, {"role": "user", "content": ""}, A], normalize.EMPTY_INSTRUCTION),
        ([U, {"role": "narrator", "content": "x"}], normalize.BAD_CONVERSATION),
        (
            [U, {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}],
            normalize.TOOL_CALL,
        ),
        ([U, A, {"role": "tool", "content": "42"}, A], normalize.TOOL_CALL),
        ([U, {"role": "assistant", "content": [{"type": "text", "text": "a"}]}],
         normalize.NON_STRING_FIELD),
    ],
)  # fmt: skip
def test_malformed_conversations_are_rejected_with_a_reason(messages, reason):
    row = norm({"messages": messages})
    assert row[C.OUTCOME] == C.OUTCOME_REJECTED
    assert row[C.REASON] == reason and row[C.DETAIL] and row[C.MESSAGES] is None


def test_sharegpt_function_call_turn_is_a_tool_call():
    turns = [
        {"from": "human", "value": "weather?"},
        {"from": "function_call", "value": '{"name": "weather"}'},
        {"from": "observation", "value": "sunny"},
        {"from": "gpt", "value": "Sunny."},
    ]
    row = norm({"conversations": turns})
    assert row[C.REASON] == normalize.TOOL_CALL and "turn 1" in row[C.DETAIL]


def test_parquet_of_messages_rows_reads_as_conversations(tmp_path):
    """A Parquet (or saved HF dataset) `messages` column is a list of structs: the same rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recycle.data.records import iter_records
    from recycle.data.sources import InputFile

    path = tmp_path / "chat.parquet"
    pq.write_table(pa.Table.from_pylist([MESSAGES4, {"messages": NORMALIZED[1:3]}]), path)
    rows = [
        normalize.normalize_record(r["raw"], r["source"], r["parse_error"])
        for r in iter_records(InputFile(str(path), "parquet"))
    ]
    assert json.loads(rows[0][C.MESSAGES]) == NORMALIZED
    assert rows[0][C.SAMPLE_ID] == norm(MESSAGES4)[C.SAMPLE_ID]
    assert rows[1][C.MESSAGES] is None and rows[1][C.SAMPLE_ID] == normalize.sample_id(
        "Hi", "", "Hello!"
    )


def test_a_kept_conversation_of_a_run_is_its_final_conversation():
    """A reassembled conversation's row carries the original `messages` and the chosen turns in
    `final_messages`: the final ones are the sample that training reads."""
    first = norm(MESSAGES4)
    final = json.loads(first[C.MESSAGES])
    final[-1] = {**final[-1], "content": final[-1]["content"] + " (rewritten)"}
    kept = {**first, C.FINAL_MESSAGES: json.dumps(final), C.FINAL_INSTRUCTION: first[C.INSTRUCTION],
            C.FINAL_INPUT: "", C.FINAL_OUTPUT: final[-1]["content"]}  # fmt: skip
    again = normalize.normalize_record(json.dumps(kept), "kept.parquet:0")
    assert json.loads(again[C.MESSAGES]) == final and again[C.OUTPUT].endswith("(rewritten)")
    assert again[C.SAMPLE_ID] != first[C.SAMPLE_ID]
