"""`recycle run` over a mixed input in selective mode: Alpaca rows, 2- to 6-turn ShareGPT and
`messages` conversations with system prompts, and malformed conversations, reflected turn by turn
(issue 34, part 3).

Each conversation is exploded into one sample per turn (the original earlier turns as context),
reflected and chosen like a single sample, and reassembled into one row: every input row ends
kept, dropped or rejected once, the manifest adds up and counts conversations and turns, and a
kept conversation has all its turns, each the original or the teacher's rewrite the rule chose.
"""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pyarrow as pa
import pytest
import ray

from recycle import api
from recycle import columns as C
from recycle.data.conversation import parse
from recycle.pipeline.turns import explode, explode_turns, read_turn_rows, write_stream_batch
from recycle.rundir import read_outcome
from recycle.testing.local_answers import default_answer
from recycle.testing.local_server import LocalTeacherServer
from tests.support.tiny_model import alpaca_rows
from tests.unit.pipeline.test_turns import CONV, TWO, finished, frame, row

pytestmark = pytest.mark.integration
CONTEXT = "[The Start of Conversation So Far]"
TURNS = (2, 3, 4, 2, 5, 6)  # six conversations, 22 turns
# malformed conversations: rejected before any request, each with its reason
MALFORMED = {
    "bad_conversation": {"conversations": [{"from": "human", "value": "Hi"},
                                           {"from": "human", "value": "Hello?"}]},
    "empty_output": {"messages": [{"role": "user", "content": "Hi"},
                                  {"role": "assistant", "content": "  "}]},
    "tool_call": {"messages": [{"role": "user", "content": "Weather?"},
                               {"role": "assistant", "content": "", "tool_calls": [{"id": "1"}]},
                               {"role": "tool", "content": "sunny"},
                               {"role": "assistant", "content": "Sunny."}]},
}  # fmt: skip
N_ALPACA = 4


class CountingAnswers:
    """The default scripted answers, counting prompts with and without a conversation context."""

    def __init__(self):
        self.calls: Counter[str] = Counter()

    def __call__(self, messages):
        self.calls["context" if CONTEXT in messages[-1]["content"] else "plain"] += 1
        return default_answer(messages)


def mixed_input(path) -> list[dict]:
    rows = [r for r in alpaca_rows() if not r["input"] and len(r["output"]) < 200]
    alpaca, texts = rows[:N_ALPACA], iter(rows[N_ALPACA:])
    lines = list(alpaca)
    for i, n in enumerate(TURNS):
        pairs = [next(texts) for _ in range(n)]
        if i % 2:  # ShareGPT, a system prompt on every other one
            turns = [{"from": "system", "value": "Be brief."}] if i % 4 == 1 else []
            for p in pairs:
                turns += [{"from": "human", "value": p["instruction"]},
                          {"from": "gpt", "value": p["output"]}]  # fmt: skip
            lines.append({"conversations": turns})
        else:
            msgs = [{"role": "system", "content": f"You are assistant {i}."}]
            for p in pairs:
                msgs += [{"role": "user", "content": p["instruction"]},
                         {"role": "assistant", "content": p["output"]}]  # fmt: skip
            lines.append({"messages": msgs})
    lines += MALFORMED.values()
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    return lines


def test_conversations_reflected_turn_by_turn_in_selective_mode(
    ray_local, tmp_path, tiny_model_dir
):
    data = tmp_path / "mixed.jsonl"
    mixed_input(data)
    answers = CountingAnswers()
    with LocalTeacherServer(answer=answers) as server:
        manifest = api.run(None, [
            f"data.input='{data}'", f"output.dir='{tmp_path / 'run'}'",
            f"student.model='{tiny_model_dir}'", f"teacher.base_url={server.base_url}",
            "teacher.model=local-teacher", "teacher.num_actors=1", "teacher.concurrency=8",
            "student.num_actors=1", "student.batch_size=16", "student.max_length=1024",
            "output.report_stats=false", "selection.require_ifd_below_one=false",
            "selection.require_rifd_below_one=false",
        ])  # fmt: skip
    counts = manifest["counts"]
    assert manifest["invariant"]["ok"] and counts["input"] == N_ALPACA + len(TURNS) + len(MALFORMED)
    assert counts["rejected"] == dict.fromkeys(MALFORMED, 1)
    assert counts["kept"] + sum(counts["dropped"].values()) == N_ALPACA + len(TURNS)
    conv = manifest["conversations"]
    assert conv["conversations"] == len(TURNS) and conv["turns"] == sum(TURNS)
    assert conv["turns_reflected"] == sum(TURNS)
    assert conv["kept"] + conv["dropped"] + conv["rejected"] == len(TURNS)

    # every turn went to the teacher twice (instruction, then response); a turn with a history
    # (all but the first turn of a conversation without system prompt) got the context prompt
    with_history = sum(TURNS) - sum(1 for i in range(len(TURNS)) if i % 4 == 3)
    assert answers.calls == {
        "context": 2 * with_history,
        "plain": 2 * (N_ALPACA + sum(TURNS) - with_history),
    }

    run = str(tmp_path / "run")
    rows = pd.concat([t.to_pandas() for o in C.OUTCOMES if (t := read_outcome(run, o)) is not None])
    chats = rows[rows[C.MESSAGES].notna()].set_index(C.SAMPLE_ID)
    assert len(chats) == len(TURNS) and len(rows) == N_ALPACA + len(TURNS) + len(MALFORMED)
    assert sum(chats[C.TURNS_REWRITTEN]) == conv["turn_rewrites"]
    turns = read_turn_rows(run)
    assert len(turns) == sum(TURNS)
    for conv_id, group in turns.groupby(C.CONVERSATION_ID):
        row = chats.loc[conv_id]
        original, final = parse(row[C.MESSAGES]), parse(row[C.FINAL_MESSAGES])
        assert final.system == original.system and final.n_turns == original.n_turns
        for turn in group.to_dict("records"):
            t = turn[C.TURN_INDEX]
            user = turn[C.NEW_INSTRUCTION] if turn[C.INSTRUCTION_REFLECTED] else original.users[t]
            assert final.users[t] == user
            answer = (
                turn[C.BETTER_OUTPUT] if turn[C.RESPONSE_REFLECTED]
                else turn[C.NEW_OUTPUT] if turn[C.INSTRUCTION_REFLECTED]
                else original.answers[t]
            )  # fmt: skip
            assert final.answers[t] == answer
        reflected = group[C.RESPONSE_REFLECTED].astype(bool).any()
        # the filter left on: a conversation is kept when a turn's reflected response was taken
        assert (row[C.OUTCOME] == C.OUTCOME_KEPT) == reflected
    assert conv["kept"] >= 1 and conv["turn_rewrites_kept"] >= 1  # not vacuous
    # the export: a kept conversation is its final turns, under `messages`
    exported = json.loads((tmp_path / "run" / "recycled_alpaca.json").read_text())
    kept = chats[chats[C.OUTCOME] == C.OUTCOME_KEPT]
    by_id = {r["sample_id"]: r for r in exported}
    assert len(exported) == counts["kept"] and set(kept.index) <= set(by_id)
    for conv_id, r in kept.iterrows():
        assert by_id[conv_id]["messages"] == json.loads(r[C.FINAL_MESSAGES])
    assert conv["turns_kept"] == sum(chats.loc[chats[C.OUTCOME] == C.OUTCOME_KEPT, C.TURN_COUNT])

    # `recycle select` with the r-IFD filter on: re-selected turn by turn, reassembled; a
    # conversation is kept iff a turn's reflected response was taken and the token-weighted
    # mean final r-IFD of its turns (computed here from the turn rows) is below 1
    again = api.select(None, [
        f"data.input='{run}'", f"output.dir='{tmp_path / 'select'}'",
        "selection.require_ifd_below_one=false",
    ])  # fmt: skip
    assert again["invariant"]["ok"]
    assert again["counts"]["input"] == N_ALPACA + len(TURNS) + len(MALFORMED)
    assert again["conversations"]["conversations"] == len(TURNS)
    reselected = read_outcome(str(tmp_path / "select"), C.OUTCOME_KEPT).to_pandas()
    kept_ids = set(reselected[C.SAMPLE_ID])
    for conv_id, group in turns.groupby(C.CONVERSATION_ID):
        w = group["final_x_tokens"].astype(float)
        mean = (group[C.FINAL_RIFD].astype(float) * w).sum() / w.sum()
        expect = bool(group[C.RESPONSE_REFLECTED].astype(bool).any()) and mean < 1
        assert (conv_id in kept_ids) == expect, conv_id


def test_a_resumed_run_streams_only_the_turns_not_written(ray_local, tmp_path):
    """Turn rows already written (OUTPUT/turns/) are skipped turn by turn; a turn left for a
    rerun (transient reject) is streamed again; single rows are not affected."""
    run = str(tmp_path)
    done = finished(explode_turns(pd.DataFrame([row(CONV)])))
    done[C.REASON] = ["", C.REASON_TEACHER_UNAVAILABLE, ""]
    done[C.OUTCOME] = [C.OUTCOME_KEPT, C.OUTCOME_REJECTED, C.OUTCOME_KEPT]
    write_stream_batch(pa.Table.from_pandas(done, preserve_index=False), run, "part")
    todo = explode(ray.data.from_pandas(frame()), run, "all", retry=True).to_pandas()
    conv, two = row(CONV)[C.SAMPLE_ID], row(TWO)[C.SAMPLE_ID]
    assert sorted(todo[C.SAMPLE_ID]) == sorted(
        ["single-a", "single-b", f"{conv}-t1", f"{two}-t0", f"{two}-t1"]
    )
