"""Conversations through the stream turn by turn: explode into turn rows, write them apart,
reassemble one row per conversation with its outcome, count (pipeline/turns.py, reassemble.py)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pyarrow as pa
import pytest

from recycle import columns as C
from recycle.config.selection import SelectionConfig
from recycle.data.conversation import Conversation, conversation_id, parse, to_json
from recycle.pipeline.reassemble import (
    aggregates,
    conversation_counts,
    conversation_row,
    conversation_rows,
    reassemble,
)
from recycle.pipeline.turns import (
    TURN_COLUMNS,
    explode_batch,
    explode_turns,
    read_turn_rows,
    write_stream_batch,
)
from recycle.rundir import count_outcomes, read_outcome
from recycle.select.modes import FINAL

CONV = Conversation("Be brief.", ("u1", "u2", "u3"), ("a1", "a2", "a3"))
TWO = Conversation("", ("v1", "v2"), ("b1", "b2"))


def row(conv: Conversation | None, text: str = "x") -> dict[str, object]:
    if conv is None:
        return {C.SAMPLE_ID: f"single-{text}", C.INSTRUCTION: text, C.INPUT: "",
                C.OUTPUT: text.upper(), C.MESSAGES: None, C.OUTCOME: C.OUTCOME_KEPT}  # fmt: skip
    messages = conv.messages()
    return {C.SAMPLE_ID: conversation_id(messages), C.INSTRUCTION: conv.users[-1], C.INPUT: "",
            C.OUTPUT: conv.answers[-1], C.MESSAGES: to_json(messages),
            C.OUTCOME: C.OUTCOME_KEPT}  # fmt: skip


def frame() -> pd.DataFrame:
    return pd.DataFrame([row(None, "a"), row(CONV), row(None, "b"), row(TWO)])


def test_explode_all_turns_with_the_original_history():
    out = explode_turns(frame())
    assert len(out) == 1 + 3 + 1 + 2
    single = out.iloc[0]
    assert single[C.SAMPLE_ID] == "single-a" and all(pd.isna(single[c]) for c in TURN_COLUMNS)
    turns = out[out[C.CONVERSATION_ID] == row(CONV)[C.SAMPLE_ID]]
    assert turns[C.TURN_INDEX].tolist() == [0, 1, 2]
    assert turns[C.TURN_COUNT].tolist() == [3, 3, 3]
    assert turns[C.INSTRUCTION].tolist() == ["u1", "u2", "u3"]
    assert turns[C.OUTPUT].tolist() == ["a1", "a2", "a3"]
    assert turns[C.SAMPLE_ID].tolist() == [f"{row(CONV)[C.SAMPLE_ID]}-t{t}" for t in range(3)]
    history = [json.loads(h) for h in turns[C.TURN_HISTORY]]
    assert history[0] == [{"role": "system", "content": "Be brief."}]
    assert history[2] == CONV.messages(2)  # system, u1, a1, u2, a2: the originals
    assert (turns[C.MESSAGES] == row(CONV)[C.MESSAGES]).all()


def test_explode_last_turn_only_and_leave_rejected_rows():
    df = frame()
    df.loc[3, C.OUTCOME] = C.OUTCOME_REJECTED
    out = explode_turns(df, "last")
    assert len(out) == 1 + 1 + 1 + 1
    turn = out[out[C.TURN_INDEX].notna()].iloc[0]
    assert (turn[C.TURN_INDEX], turn[C.INSTRUCTION], turn[C.OUTPUT]) == (2, "u3", "a3")
    assert pd.isna(out.iloc[3][C.CONVERSATION_ID])  # the rejected conversation is not exploded


def test_explode_batch_keeps_every_type_and_types_the_turn_columns():
    """A batch without conversations (or without rows) only gains four typed null columns; one
    with conversations keeps the types of its columns."""
    singles = pa.Table.from_pylist([row(None, "a")]).cast(
        pa.schema([(c, pa.string()) for c in row(None, "a")])
    )
    for batch in (singles, singles.slice(0, 0)):
        out = explode_batch(batch, "all")
        assert out.schema.names == [*batch.schema.names, *TURN_COLUMNS]
        assert out.select(batch.schema.names).equals(batch)
        assert out.schema.field(C.TURN_INDEX).type == pa.int64()
        assert out.schema.field(C.TURN_HISTORY).type == pa.string()
    mixed = pa.Table.from_pylist([row(None, "a"), row(CONV)], schema=singles.schema)
    out = explode_batch(mixed, "all")
    assert out.num_rows == 4 and out.schema.field(C.INSTRUCTION).type == pa.string()
    assert out[C.TURN_INDEX].to_pylist() == [None, 0, 1, 2]


def finished(turns: pd.DataFrame, **per_turn) -> pd.DataFrame:
    """Turn rows as the stream leaves them: final pair, choices and scores."""
    df = turns.copy()
    df[C.FINAL_INSTRUCTION], df[C.FINAL_INPUT] = df[C.INSTRUCTION], ""
    df[C.FINAL_OUTPUT] = df[C.OUTPUT]
    df[C.INSTRUCTION_REFLECTED], df[C.RESPONSE_REFLECTED] = False, False
    df[C.FINAL_IFD], df[C.FINAL_RIFD] = 0.5, 0.5
    df["final_y_tokens"], df["final_x_tokens"] = 10, 5
    df[C.REASON], df[C.DETAIL], df[C.STAGE] = "", "", ""
    for name, values in per_turn.items():
        df[name] = values
    return df


def test_a_conversation_takes_each_turns_final_text_and_weighted_scores():
    turns = explode_turns(pd.DataFrame([row(CONV)]))
    df = finished(
        turns,
        final_output=["a1", "A2 better", "a3"],
        final_instruction=["U1 new", "u2", "u3"],
        instruction_reflected=[True, False, False],
        response_reflected=[False, True, False],
        final_ifd=[0.2, 0.8, math.nan],
        final_y_tokens=[10, 30, 5],
        final_rifd=[0.9, 0.3, 0.6],
        final_x_tokens=[1, 1, 2],
    )
    out = conversation_row(df.iloc[::-1].to_dict("records"))  # any order
    assert out[C.SAMPLE_ID] == row(CONV)[C.SAMPLE_ID]
    final = parse(out[C.FINAL_MESSAGES])
    assert final == Conversation("Be brief.", ("U1 new", "u2", "u3"), ("a1", "A2 better", "a3"))
    assert parse(out[C.MESSAGES]) == CONV  # the original stays
    assert out[C.FINAL_IFD] == pytest.approx((0.2 * 10 + 0.8 * 30) / 40)  # NaN turn left out
    assert out[C.FINAL_RIFD] == pytest.approx((0.9 + 0.3 + 1.2) / 4)
    assert (out[C.TURNS_REFLECTED], out[C.TURNS_REWRITTEN], out[C.TURN_COUNT]) == (3, 2, 3)
    assert out[C.RESPONSE_REFLECTED] and out[C.OUTCOME] == C.OUTCOME_KEPT
    assert C.TURN_INDEX not in out and C.TURN_HISTORY not in out


def test_a_rejected_turn_rejects_the_conversation_with_its_reason():
    df = finished(explode_turns(pd.DataFrame([row(CONV)])))
    df.loc[1, [C.OUTCOME, C.REASON, C.DETAIL, C.STAGE]] = [
        C.OUTCOME_REJECTED, "teacher_refused", "refusal", "reflect_instruction"]  # fmt: skip
    out = conversation_row(df.to_dict("records"))
    assert (out[C.OUTCOME], out[C.REASON], out[C.DETAIL]) == (
        C.OUTCOME_REJECTED, "teacher_refused", "turn 2: refusal")  # fmt: skip


def test_the_filter_reads_the_aggregates_and_any_reflected_response():
    sel = SelectionConfig()
    keep = finished(
        explode_turns(pd.DataFrame([row(CONV)])),
        response_reflected=[False, True, False],
        final_ifd=[1.5, 0.5, 0.5],  # one turn >= 1, the weighted mean (0.833) < 1: kept
    )
    drop_ifd = finished(
        explode_turns(pd.DataFrame([row(TWO)])),
        response_reflected=[True, True],
        final_ifd=[1.2, 0.9],
    )
    none = finished(explode_turns(pd.DataFrame([row(CONV, )])).assign(
        **{C.CONVERSATION_ID: "c3"}))  # fmt: skip
    out = conversation_rows(pd.concat([keep, drop_ifd, none]), sel, True, set())
    by_id = out.set_index(C.SAMPLE_ID)
    assert by_id.loc[row(CONV)[C.SAMPLE_ID], C.OUTCOME] == C.OUTCOME_KEPT
    assert by_id.loc[row(TWO)[C.SAMPLE_ID], C.REASON] == "ifd_not_below_one"
    assert by_id.loc["c3", C.REASON] == "response_not_reflected"
    unfiltered = conversation_rows(pd.concat([keep, drop_ifd, none]), sel, False, set())
    assert (unfiltered[C.OUTCOME] == C.OUTCOME_KEPT).all()


def test_a_turn_without_scores_or_token_counts_is_left_out_of_the_means():
    # pandas reads a numeric column's nulls as NaN: a NaN token count was int()-ed and raised
    y, x = C.scored(FINAL, C.Y_TOKENS), C.scored(FINAL, C.X_TOKENS)
    scored = {C.FINAL_IFD: 0.5, C.FINAL_RIFD: 0.7, y: 10, x: 5}
    other = {C.FINAL_IFD: 0.8, C.FINAL_RIFD: 0.9, y: 30, x: 15}
    unscored = {C.FINAL_IFD: math.nan, C.FINAL_RIFD: math.nan, y: math.nan, x: math.nan}
    ifd, rifd = aggregates([scored, unscored, other])
    assert ifd == pytest.approx((0.5 * 10 + 0.8 * 30) / 40)
    assert rifd == pytest.approx((0.7 * 5 + 0.9 * 15) / 20)
    assert all(math.isnan(v) for v in aggregates([unscored]))


def test_an_incomplete_conversation_waits_and_a_written_one_is_skipped():
    df = finished(explode_turns(pd.DataFrame([row(CONV), row(TWO)])))
    gap = (df[C.TURN_INDEX] == 1) & (df[C.CONVERSATION_ID] == row(CONV)[C.SAMPLE_ID])
    partial = df[~gap]  # turn 2 of CONV not done yet (a stopped run)
    out = conversation_rows(partial, SelectionConfig(), True, set())
    assert out[C.SAMPLE_ID].tolist() == [row(TWO)[C.SAMPLE_ID]]
    assert conversation_rows(df, SelectionConfig(), True, {row(TWO)[C.SAMPLE_ID]})[
        C.SAMPLE_ID
    ].tolist() == [row(CONV)[C.SAMPLE_ID]]
    last_only = conversation_rows(
        df[df[C.TURN_INDEX] == 2], SelectionConfig(turns="last"), True, set()
    )
    assert last_only[C.SAMPLE_ID].tolist() == [row(CONV)[C.SAMPLE_ID]]
    assert parse(last_only.iloc[0][C.FINAL_MESSAGES]) == CONV


def test_stream_write_reassemble_and_count(tmp_path):
    """Single rows land in the run directory as before (no turn columns), turn rows in turns/;
    reassembly writes one row per conversation, once; every input row is counted once."""
    run = str(tmp_path)
    stream = finished(
        explode_turns(frame()),
        response_reflected=[False, True, False, True, False, True, True],
        instruction_reflected=[False, False, True, False, False, False, False],
    )
    stream[C.OUTCOME] = C.OUTCOME_KEPT
    write_stream_batch(pa.Table.from_pandas(stream, preserve_index=False), run, "part")
    singles = read_outcome(run, C.OUTCOME_KEPT)
    assert sorted(singles[C.SAMPLE_ID].to_pylist()) == ["single-a", "single-b"]
    assert not set(TURN_COLUMNS) & set(singles.column_names)
    assert len(read_turn_rows(run)) == 5
    assert reassemble(run, SelectionConfig(), True) == 2
    assert reassemble(run, SelectionConfig(), True) == 0  # written once
    counts = count_outcomes(run)
    assert counts["kept"] + sum(counts["dropped"].values()) == 4  # 2 singles + 2 conversations
    assert conversation_counts(run) == {
        "conversations": 2, "kept": 2, "dropped": 0, "rejected": 0, "turns": 5, "turns_kept": 5,
        "turns_reflected": 5, "turn_rewrites": 5, "turn_rewrites_kept": 5,
    }  # fmt: skip


def test_no_conversation_no_counts(tmp_path):
    assert conversation_counts(str(tmp_path)) == {}
    assert reassemble(str(tmp_path), SelectionConfig(), True) == 0


def test_the_export_carries_each_final_conversation(tmp_path):
    """Alpaca JSON: single samples keep their four keys; a conversation has its final last
    exchange and `messages`, the whole final conversation, which normalizes (what `recycle train`
    reads) back to that conversation."""
    from recycle.data.normalize import normalize_record
    from recycle.pipeline.export import write_alpaca_json

    run = str(tmp_path)
    stream = finished(
        explode_turns(pd.DataFrame([row(None, "a"), row(CONV)])),
        final_output=["A", "a1", "a2 better", "a3"],
        response_reflected=[False, False, True, False],
    )
    write_stream_batch(pa.Table.from_pandas(stream, preserve_index=False), run, "part")
    reassemble(run, SelectionConfig(), True)
    write_alpaca_json(run)
    exported = {
        r["sample_id"]: r for r in json.loads((tmp_path / "recycled_alpaca.json").read_text())
    }
    assert exported["single-a"] == {
        "instruction": "a",
        "input": "",
        "output": "A",
        "sample_id": "single-a",
    }
    chat = exported[row(CONV)[C.SAMPLE_ID]]
    final = Conversation("Be brief.", ("u1", "u2", "u3"), ("a1", "a2 better", "a3"))
    assert chat["messages"] == final.messages() and chat["output"] == "a3"
    again = normalize_record(json.dumps(chat), "export:0", None)
    assert again[C.OUTCOME] == C.OUTCOME_KEPT and parse(again[C.MESSAGES]) == final


def test_a_transient_turn_reject_leaves_the_conversation_to_retry(tmp_path):
    """A turn the teacher could not answer (outage) rejects its conversation transiently: the
    conversation goes to retry/, counted apart, and a rerun redoes it."""
    run = str(tmp_path)
    stream = finished(explode_turns(pd.DataFrame([row(CONV)])))
    stream[C.OUTCOME] = [C.OUTCOME_KEPT, C.OUTCOME_REJECTED, C.OUTCOME_KEPT]
    stream[C.REASON] = ["", C.REASON_TEACHER_UNAVAILABLE, ""]
    write_stream_batch(pa.Table.from_pandas(stream, preserve_index=False), run, "part")
    assert reassemble(run, SelectionConfig(), True) == 1
    counts = count_outcomes(run)
    assert counts["retry"] == {C.REASON_TEACHER_UNAVAILABLE: 1} and counts["kept"] == 0
    assert read_outcome(run, C.OUTCOME_REJECTED, transient=True)[C.DETAIL].to_pylist() == [
        "turn 2: "
    ]


def test_resume_keys_hold_selection_turns_only_when_not_the_default(tmp_path):
    """A run directory made before `selection.turns` existed resumes under the default; a
    change of the setting either way is refused."""
    from recycle.config import load_config
    from recycle.errors import ConfigError
    from recycle.pipeline.steps import resume_keys
    from recycle.rundir import check_resume_keys

    default = resume_keys(load_config(None, []))
    last = resume_keys(load_config(None, ["selection.turns=last"]))
    assert "turns" not in default["selection"] and "selection.turns" not in default
    assert last["selection.turns"] == "last" and last["selection"] == default["selection"]
    check_resume_keys(str(tmp_path), default)
    with pytest.raises(ConfigError):
        check_resume_keys(str(tmp_path), last)


def test_conversation_parts_are_stream_parts_for_resume():
    from recycle.pipeline.resume import STREAM_PARTS
    from recycle.rundir import CONVERSATION_PARTS

    assert CONVERSATION_PARTS.startswith(f"{STREAM_PARTS}-")
