"""Generation: the training prompt, and batched greedy decoding equal to one prompt at a time."""

from __future__ import annotations

from collections import Counter

import pytest

from recycle.config.student import StudentConfig
from recycle.eval.generate import (
    cut_at_eos,
    generate_answers,
    greedy_batch,
    left_padded,
    length_sorted_batches,
    prompt_ids,
)
from recycle.eval.questions import load_questions
from recycle.student.model import load_student
from recycle.train.samples import tokenize_samples
from tests.support.tiny_model import EOS


@pytest.fixture(scope="module")
def student(tiny_model_dir):
    return load_student(StudentConfig(model=str(tiny_model_dir)))


@pytest.mark.parametrize("template", ["vicuna", "alpaca"])
def test_prompt_is_the_training_prefix(student, template):
    _, tok = student
    for ins, inp in [("Name three colors.", ""), ("Rewrite the sentence.", "It is good.")]:
        ids, starts, _ = tokenize_samples(tok, [ins], [inp], ["An answer."], template, 2048)
        assert prompt_ids(tok, template, ins, inp) == ids[0][: starts[0]]


def test_helpers():
    ids, mask = left_padded([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert cut_at_eos([4, 9, 2, 2], eos_id=2) == [4, 9] and cut_at_eos([4, 9], eos_id=2) == [4, 9]
    assert length_sorted_batches([3, 9, 1, 5], 2) == [[1, 3], [0, 2]]


def test_batched_greedy_equals_one_prompt_at_a_time(student):
    model, tok = student
    qs = [(q["instruction"], q["input"]) for q in load_questions(["vicuna", "sinstruct"], 3)]
    prompts = [prompt_ids(tok, "vicuna", i, x) for i, x in qs]
    single = [greedy_batch(model, tok, [p], 12)[0] for p in prompts]
    # make the random model stop early: call its most frequent greedy token "eos"
    common = Counter(t for s in single for t in s).most_common(1)[0][0]
    tok.eos_token = tok.convert_ids_to_tokens(common)
    try:
        single = [generate_answers(model, tok, [q], "vicuna", 12, 1, 1024)[0] for q in qs]
        batched = generate_answers(model, tok, qs, "vicuna", 12, 4, 1024)
    finally:
        tok.eos_token = EOS
    assert [a.text for a in batched] == [a.text for a in single]
    assert [a.tokens for a in batched] == [a.tokens for a in single]
    assert len({a.tokens for a in batched}) > 1  # answers stopped at eos at different lengths
    assert all(a.tokens <= 12 for a in batched)


def test_a_prompt_too_long_gets_a_reason_not_a_cut(student):
    model, tok = student
    answers = generate_answers(
        model, tok, [("short?", ""), ("long " * 400, "")], "vicuna", 3, 2, 64
    )
    assert answers[0].error == "" and answers[0].tokens == 3
    assert answers[1].error.startswith("prompt_too_long") and answers[1].text == ""
