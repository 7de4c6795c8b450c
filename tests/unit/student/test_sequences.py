"""The sequence builder shared by scoring and training: pieces, truncation, start token, templates."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from recycle.errors import ConfigError
from recycle.student.sequences import (
    EMPTY_TARGET,
    NO_ROOM_FOR_TARGET,
    build_pair,
    build_sequence,
    pad_token_id,
    prompt_prefix,
    reverse_query,
    rifd_target,
    sequence_from_ids,
    start_token_id,
)


@pytest.fixture(scope="module")
def tok(tiny_tokenizer_dir):
    return AutoTokenizer.from_pretrained(tiny_tokenizer_dir)


@pytest.fixture(scope="module")
def tok_no_bos(tiny_model_no_bos_dir):
    return AutoTokenizer.from_pretrained(tiny_model_no_bos_dir)


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def test_sequence_is_bos_prefix_target_from_separate_pieces(tok):
    prefix = prompt_prefix("vicuna", "Name a colour.")
    seq = build_sequence(tok, prefix, "Blue", max_length=512)
    assert seq.input_ids == (tok.bos_token_id, *ids(tok, prefix), *ids(tok, "Blue"))
    assert seq.target_start == 1 + len(ids(tok, prefix))
    assert seq.target_ids == tuple(ids(tok, "Blue"))
    assert (seq.truncated, seq.error) == (False, "")


def test_add_eos_appends_eos_to_the_target(tok):
    seq = build_sequence(tok, "Q:", "A", max_length=64, add_eos=True)
    assert seq.input_ids[-1] == tok.eos_token_id
    assert seq.target_ids == (*ids(tok, "A"), tok.eos_token_id)


def test_pair_scores_the_same_cut_target(tok):
    prefix = prompt_prefix("alpaca", "Write a long story.")
    target = "Once upon a time there was a very long story about many things."
    room = 1 + len(ids(tok, prefix)) + 3
    cond, uncond = build_pair(tok, prefix, target, max_length=room)
    assert len(cond.input_ids) == room and cond.truncated
    assert cond.target_ids == tuple(ids(tok, target)[:3])
    assert uncond.input_ids == (tok.bos_token_id, *cond.target_ids)
    assert (uncond.target_start, uncond.truncated, uncond.n_target) == (1, True, 3)


def test_sample_longer_than_max_length_with_no_room_gets_a_reason_not_an_exception(tok):
    prefix = prompt_prefix("vicuna", "word " * 100)
    cond, uncond = build_pair(tok, prefix, "answer", max_length=32)
    assert cond.error.startswith(NO_ROOM_FOR_TARGET) and uncond.error == cond.error
    assert cond.n_target == 0 and uncond.n_target == 0


def test_empty_target_gets_a_reason(tok):
    cond, uncond = build_pair(tok, "prefix", "", max_length=32)
    assert cond.error.startswith(EMPTY_TARGET) and uncond.error.startswith(EMPTY_TARGET)


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.lists(st.integers(5, 50), max_size=40),
    target=st.lists(st.integers(5, 50), max_size=40),
    max_length=st.integers(8, 80),
)
def test_truncation_invariants(prefix, target, max_length):
    cond = sequence_from_ids(1, prefix, target, max_length)
    assert cond.input_ids[: cond.target_start] == (1, *prefix)
    assert cond.target_ids == tuple(target[: cond.n_target])
    if cond.error:
        assert cond.n_target == 0
    else:
        assert len(cond.input_ids) <= max_length and cond.n_target >= 1
        assert cond.truncated == (cond.n_target < len(target))


def test_tokenizer_without_bos_starts_with_eos_and_pads_with_eos(tok_no_bos):
    assert tok_no_bos.bos_token_id is None and tok_no_bos.pad_token_id is None
    assert start_token_id(tok_no_bos) == tok_no_bos.eos_token_id
    assert pad_token_id(tok_no_bos) == tok_no_bos.eos_token_id
    cond, uncond = build_pair(tok_no_bos, "Q:", "A", max_length=32)
    assert cond.input_ids[0] == uncond.input_ids[0] == tok_no_bos.eos_token_id
    assert uncond.target_start == 1


def test_tokenizer_without_bos_and_eos_is_a_config_error(tok_no_bos):
    class Bare:
        bos_token_id = eos_token_id = None

    with pytest.raises(ConfigError, match="neither a bos nor an eos"):
        start_token_id(Bare())


def test_templates_render_the_prompt_files():
    assert prompt_prefix("vicuna", "Hi").endswith("USER: Hi ASSISTANT:")
    assert prompt_prefix("alpaca", "Hi").endswith("### Instruction:\nHi\n\n### Response:")
    assert prompt_prefix("wizardlm", "Hi") == "Hi\n\n### Response:"
    assert reverse_query("Y").startswith("Below is the response to an instruction")
    assert "\nY\n" in reverse_query("Y")
    with pytest.raises(ConfigError, match="unknown student template"):
        prompt_prefix("llama9", "Hi")


# The authors' templates, byte for byte (Reflection_Tuning selection_code/data_analysis.py and
# Cherry_LLM cherry_seletion/data_analysis_vic.py, PROMPT_DICT_*): (no input, with input).
SYSTEM = "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. "
AUTHORS = {
    "vicuna": (
        SYSTEM + "USER: {instruction} ASSISTANT:",
        SYSTEM + "USER: {instruction}\nInput:\n{input} ASSISTANT:",
    ),
    "alpaca": (
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:",
        "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:",
    ),
    "wizardlm": ("{instruction}\n\n### Response:", "{instruction}\n{input}\n\n### Response:"),
}


@pytest.mark.parametrize("template", sorted(AUTHORS))
def test_templates_with_and_without_input_are_the_authors(template):
    plain, with_input = AUTHORS[template]
    sample = {"instruction": "Sort the list.", "input": "3, 1, 2"}
    assert prompt_prefix(template, "Sort the list.") == plain.format(**sample)
    assert prompt_prefix(template, "Sort the list.", input_="3, 1, 2") == with_input.format(
        **sample
    )
    assert rifd_target(template, "Sort the list.", "3, 1, 2") == "Sort the list.3, 1, 2"
    assert rifd_target(template, "Sort the list.") == "Sort the list."


@pytest.mark.parametrize("template", sorted(AUTHORS))
def test_joined_templates_keep_the_input_on_a_new_line(template):
    plain = AUTHORS[template][0]
    joined = f"{template}_joined"
    assert prompt_prefix(joined, "Sort.") == plain.format(instruction="Sort.")
    assert prompt_prefix(joined, "Sort.", input_="3 1") == plain.format(instruction="Sort.\n3 1")
    assert rifd_target(joined, "Sort.", "3 1") == "Sort.\n3 1"


def test_chat_template_uses_the_tokenizer_and_drops_a_leading_bos(tok):
    with pytest.raises(ConfigError, match="chat template"):
        prompt_prefix("chat", "Hi", tok)
    tok.chat_template = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    try:
        assert prompt_prefix("chat", "Hi", tok) == "<user>Hi<assistant>"
        assert prompt_prefix("chat", "Hi", tok, "there") == "<user>Hi\nthere<assistant>"
        assert rifd_target("chat", "Hi", "there") == "Hi\nthere"
    finally:
        tok.chat_template = None
