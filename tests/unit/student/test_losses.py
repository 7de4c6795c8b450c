"""Target-only losses: a hand-computed case, and batched == plain reference within 1e-5."""

from __future__ import annotations

import math
import random

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from recycle.student.batching import dedupe, pack, score_sequences
from recycle.student.losses import NON_FINITE, mean_target_nll, ratio_score
from recycle.student.planning import plan_pairs
from recycle.student.sequences import TokenSequence, pad_token_id, sequence_from_ids
from recycle.student.variants import Variant
from tests.support.tiny_model import alpaca_rows

LN2, LN3 = math.log(2.0), math.log(3.0)


def hand_model() -> LlamaForCausalLM:
    """A 3-token, 2-wide Llama whose layer is the identity: logits depend on the current token only.

    h(bos=0) = (1, 1), h(1) = (1, -1), h(2) = (-1, 1); head rows w0 = 0, w1 = ln2/2 (1, 1),
    w2 = ln3/2 (1, -1). Next-token probabilities:
        after 0: logits (0, ln2, 0)  -> (1/4, 1/2, 1/4)
        after 1: logits (0, 0, ln3)  -> (1/5, 1/5, 3/5)
        after 2: logits (0, 0, -ln3) -> (3/7, 3/7, 1/7)
    """
    cfg = LlamaConfig(
        vocab_size=3, hidden_size=2, intermediate_size=2, num_hidden_layers=1, num_attention_heads=1,
        num_key_value_heads=1, rms_norm_eps=1e-12, tie_word_embeddings=False, bos_token_id=0,
    )  # fmt: skip
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]]))
        model.model.layers[0].self_attn.o_proj.weight.zero_()  # attention adds nothing
        model.model.layers[0].mlp.down_proj.weight.zero_()  # MLP adds nothing
        model.lm_head.weight.copy_(
            torch.tensor([[0.0, 0.0], [LN2 / 2, LN2 / 2], [LN3 / 2, -LN3 / 2]])
        )
    return model


def test_hand_computed_losses_and_ifd():
    model = hand_model()
    cond = sequence_from_ids(0, [1], [2, 1], max_length=16)  # [0, 1 | 2, 1]
    uncond = sequence_from_ids(0, [], [2, 1], max_length=16)  # [0 | 2, 1]
    got = mean_target_nll(model, [cond, uncond], pad_id=0)
    want_cond = -(math.log(3 / 5) + math.log(3 / 7)) / 2  # p(2|1) = 3/5, p(1|2) = 3/7
    want_uncond = -(math.log(1 / 4) + math.log(3 / 7)) / 2  # p(2|bos) = 1/4, p(1|2) = 3/7
    assert got.tolist() == pytest.approx([want_cond, want_uncond], abs=1e-6)
    ifd, reason = ratio_score(*got.tolist())
    assert reason == "" and ifd == pytest.approx(math.sqrt(5 / 12), abs=1e-6)


def test_ratio_score_non_finite_is_nan_with_reason():
    for cond, uncond in ((math.nan, 1.0), (1.0, math.inf), (1000.0, -1000.0)):
        score, reason = ratio_score(cond, uncond)
        assert math.isnan(score) and reason.startswith(NON_FINITE)
    assert ratio_score(2.0, 1.0) == (pytest.approx(math.e), "")


def _sequences(tokenizer, max_length: int, n_rows: int = 24) -> list[TokenSequence]:
    rows = alpaca_rows(n_rows)
    cols = {k: [r[k] for r in rows] for k in ("instruction", "input", "output")}
    jobs = plan_pairs(tokenizer, "vicuna", max_length, cols, [Variant(rifd=True)], range(n_rows))
    return [s for j in jobs if not j.cond.error for s in (j.cond, j.uncond)]


@pytest.mark.parametrize(
    ("seed", "max_length", "batch_tokens"),
    [(0, 256, 256), (1, 256, 1024), (2, 256, 4096), (3, 96, 200), (4, 128, 100_000), (5, 160, 700)],
)
def test_batched_equals_reference_any_batch_order_padding_truncation(
    tiny_student, reference, seed, max_length, batch_tokens
):
    model, tokenizer, _ = tiny_student
    seqs = _sequences(tokenizer, max_length, n_rows=12)
    random.Random(seed).shuffle(seqs)
    assert any(s.truncated for s in seqs)
    got, stats = score_sequences(model, seqs, pad_token_id(tokenizer), batch_tokens, chunk=97)
    want = [reference(model, s) for s in seqs]
    assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1e-5
    assert stats.projected == sum(s.n_target for s in dedupe(seqs)[0])


def test_each_unique_sequence_is_computed_once(tiny_student):
    model, tokenizer, _ = tiny_student
    seqs = _sequences(tokenizer, 128, n_rows=6)
    doubled = seqs + seqs[::-1]
    got, stats = score_sequences(model, doubled, pad_token_id(tokenizer), 1024)
    assert stats.requested == len(doubled) and stats.unique == len(seqs)
    assert got[: len(seqs)] == got[len(seqs) :][::-1]


def test_scoring_builds_no_kv_cache(tiny_student):
    model, tokenizer, _ = tiny_student
    assert model.config.use_cache  # the model's default would build one
    caches = []
    hook = model.base_model.register_forward_hook(
        lambda _m, _args, out: caches.append(out.past_key_values)
    )
    try:
        mean_target_nll(model, _sequences(tokenizer, 128, n_rows=2), pad_token_id(tokenizer))
    finally:
        hook.remove()
    assert caches == [None]


def test_pack_respects_the_padded_token_budget():
    lengths = [5, 40, 7, 40, 12, 3, 90]
    batches = pack(lengths, batch_tokens=80)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        width = max(lengths[i] for i in b)
        assert len(b) * width <= 80 or len(b) == 1
        assert lengths[b[0]] == width  # longest first within a micro-batch
    assert batches[0] == [6]  # longer than the budget: alone


def test_non_finite_model_gives_nan_losses(tiny_student):
    model, tokenizer, _ = tiny_student
    head = model.get_output_embeddings().weight
    saved = head.detach().clone()
    seqs = _sequences(tokenizer, 64, n_rows=2)
    try:
        with torch.no_grad():
            head[0, 0] = math.nan
        got, _ = score_sequences(model, seqs, pad_token_id(tokenizer), 1024)
    finally:
        with torch.no_grad():
            head.copy_(saved)
    assert all(math.isnan(v) for v in got)
