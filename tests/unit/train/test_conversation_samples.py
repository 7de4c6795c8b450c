"""Fine-tuning on conversations: exactly the assistant tokens are learned, read back from the labels."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from transformers import AutoTokenizer

from recycle import columns as C
from recycle.data.normalize import SAMPLE_SCHEMA, normalize_record
from recycle.student.sequences import build_sequence, prompt_prefix
from recycle.train.batches import IGNORE_INDEX, LABELS, collate_rows
from recycle.train.samples import TokenizeForTraining
from recycle.train.schedule import Layout, build_schedule

SYSTEM = "You answer in one line."
TURNS = [
    ("Name a prime number.", "Seven is prime."),
    ("And an even one?", "Two is the only even prime."),
    ("Thanks!", "You are welcome."),
]
ALPACA = {"instruction": "Give a colour.", "input": "", "output": "Blue."}


def conversation_row() -> dict:
    messages = [{"role": "system", "content": SYSTEM}]
    for user, answer in TURNS:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def table(*objs) -> pa.Table:
    rows = [normalize_record(json.dumps(o), f"t:{i}") for i, o in enumerate(objs)]
    return pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA)


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def expected_vicuna(tok) -> tuple[list[int], list[int]]:
    """FastChat's vicuna for several turns, written out: `{s} USER: u ASSISTANT:` a </s> ..."""
    seq, mask = [tok.bos_token_id], [0]
    for t, (user, answer) in enumerate(TURNS):
        context = f"{SYSTEM} USER: {user} ASSISTANT:" if t == 0 else f"USER: {user} ASSISTANT:"
        learned = ids(tok, answer) + [tok.eos_token_id]
        seq += ids(tok, context) + learned
        mask += [0] * len(ids(tok, context)) + [1] * len(learned)
    return seq, mask


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_conversation_mask_is_exactly_the_assistant_turns(tiny_model_dir, tok):
    out = TokenizeForTraining(str(tiny_model_dir), "vicuna", 2048)(
        table(conversation_row(), ALPACA)
    ).to_pylist()
    want_ids, want_mask = expected_vicuna(tok)
    conv, single = out
    assert conv[C.TRAIN_ERROR] == "" and conv[C.INPUT_IDS] == want_ids
    assert conv[C.TARGET_MASK] == want_mask
    assert conv[C.TARGET_START] == want_mask.index(1)
    learned = [i for i, m in zip(conv[C.INPUT_IDS], conv[C.TARGET_MASK], strict=True) if m]
    assert tok.decode(learned) == "".join(f"{a}</s>" for _, a in TURNS)
    # a single-turn row is tokenized as before: target_start only, no mask of its own
    prefix = prompt_prefix("vicuna", ALPACA["instruction"])
    seq = build_sequence(tok, prefix, ALPACA["output"], 2048, add_eos=True)
    assert single[C.INPUT_IDS] == list(seq.input_ids)
    assert single[C.TARGET_START] == seq.target_start and single[C.TARGET_MASK] == []


@pytest.mark.parametrize("packing", [False, True])
def test_labels_of_a_packed_row_are_the_answers_only(tiny_model_dir, tok, packing):
    out = TokenizeForTraining(str(tiny_model_dir), "vicuna", 2048)(
        table(conversation_row(), ALPACA)
    )
    rows = out.to_pylist()
    sched = build_schedule(
        [r[C.SAMPLE_ID] for r in rows],
        [np.asarray(r[C.INPUT_IDS], dtype=np.int32) for r in rows],
        [r[C.TARGET_START] for r in rows],
        Layout(2 if not packing else 1, 1, 2 if not packing else 1),
        1,
        0,
        packing,
        2048,
        target_masks=[
            np.asarray(r[C.TARGET_MASK], dtype=np.int8) if r[C.TARGET_MASK] else None for r in rows
        ],
    )
    rank = sched.rank_tables[0].to_pydict()
    batch = collate_rows({k: np.array(v, dtype=object) for k, v in rank.items()}, pad_id=0)
    labels = batch[LABELS]
    learned = [int(x) for x in labels.flatten() if x != IGNORE_INDEX]
    answers = [ids(tok, a) + [tok.eos_token_id] for _, a in TURNS]
    single = ids(tok, ALPACA["output"]) + [tok.eos_token_id]
    conv_tokens = [t for a in answers for t in a]
    assert sorted(learned) == sorted(conv_tokens + single)
    assert sched.stats["target_tokens"] == len(conv_tokens) + len(single)


def test_chat_template_learns_each_answer_and_its_end_of_turn(tiny_model_dir, tok):
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tok.save_pretrained(tiny_model_dir.parent / "chatml_tok")
    stage = TokenizeForTraining(str(tiny_model_dir.parent / "chatml_tok"), "chat", 2048)
    row = stage(table(conversation_row())).to_pylist()[0]
    learned = [i for i, m in zip(row[C.INPUT_IDS], row[C.TARGET_MASK], strict=True) if m]
    want = "".join(f"{a}<|im_end|>\n" for _, a in TURNS[:-1]) + TURNS[-1][1] + "</s>"
    assert tok.decode(learned) == want
    context = [i for i, m in zip(row[C.INPUT_IDS], row[C.TARGET_MASK], strict=True) if not m]
    assert tok.decode(context[1:]).startswith(f"<|im_start|>system\n{SYSTEM}<|im_end|>")


def test_cut_at_max_length_keeps_the_earlier_turns(tiny_model_dir, tok):
    want_ids, want_mask = expected_vicuna(tok)
    second = [i for i, m in enumerate(want_mask) if m][len(ids(tok, TURNS[0][1])) + 1]
    cut = second + 2  # two tokens of the second answer fit
    row = TokenizeForTraining(str(tiny_model_dir), "vicuna", cut)(
        table(conversation_row())
    ).to_pylist()[0]
    assert row[C.INPUT_IDS] == want_ids[:cut] and row[C.TARGET_MASK] == want_mask[:cut]
    tiny = TokenizeForTraining(str(tiny_model_dir), "vicuna", 8)(table(conversation_row()))
    assert tiny.to_pylist()[0][C.TRAIN_ERROR].startswith("no_room_for_target")


def test_chat_template_without_end_of_turn_text(tok):
    """A template that writes nothing after an answer: each answer is learned alone, the last one
    with the eos."""
    from recycle.data.conversation import parse
    from recycle.student.turn_sequences import conversation_pieces, training_sequence

    tok.chat_template = (
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    conv = parse(normalize_record(json.dumps(conversation_row()), "t:0")[C.MESSAGES])
    seq, mask, error = training_sequence(conversation_pieces(tok, "chat", [conv])[0], 2048)
    assert error == ""
    learned = [i for i, m in zip(seq, mask, strict=True) if m]
    assert tok.decode(learned) == "".join(a for _, a in TURNS) + "</s>"
    assert tok.decode(seq[1:]).startswith(f"<system>{SYSTEM}<user>{TURNS[0][0]}<assistant>")
