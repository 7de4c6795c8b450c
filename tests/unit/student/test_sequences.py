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


def test_chat_template_uses_the_tokenizer_and_drops_a_leading_bos(tok):
    with pytest.raises(ConfigError, match="chat template"):
        prompt_prefix("chat", "Hi", tok)
    tok.chat_template = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    try:
        assert prompt_prefix("chat", "Hi", tok) == "<user>Hi<assistant>"
    finally:
        tok.chat_template = None
