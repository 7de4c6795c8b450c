"""The training loss on the tiny Llama: shared sequences, packing and accumulation change nothing."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from recycle import columns as C
from recycle.config.train import TrainConfig
from recycle.student.sequences import build_sequence, prompt_prefix
from recycle.train.batches import collate_rows, flatten_varlen
from recycle.train.model import CausalLMLoss
from recycle.train.schedule import Layout, build_schedule, pack_best_fit
from recycle.train.step import build_optimizer, cosine_with_warmup, train_step
from tests.support.train_support import rows_of, tokenized_alpaca

N = 8


@pytest.fixture(scope="module")
def samples(tiny_model_dir):
    """Token ids and target starts of 8 real Alpaca rows (max_length 160, some cut)."""
    return tokenized_alpaca(tiny_model_dir, N, 160)


def _model(path, attn="sdpa"):
    torch.manual_seed(0)
    return CausalLMLoss(
        AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=attn)
    )


def _batch(ids, starts, packing, capacity=512):
    """All samples in one micro-batch: one row each, or packed into as few rows as fit."""
    n_rows = (
        len(pack_best_fit(range(len(ids)), [len(i) for i in ids], capacity))
        if packing
        else len(ids)
    )
    layout = Layout(n_rows, 1, n_rows)
    s = build_schedule(
        [str(i) for i in range(len(ids))], ids, starts, layout, 1, 0, packing, capacity
    )
    assert s.total_steps == 1 and s.stats["rows_left_out"] == 0
    return collate_rows(rows_of(s.rank_tables[0]), pad_id=0)


def test_training_tokens_are_the_shared_builder_s(samples):
    tok, rows, ids, starts = samples
    for row, got, start in zip(rows, ids, starts, strict=True):
        prefix = prompt_prefix("vicuna", row["instruction"], tok, row["input"])
        seq = build_sequence(tok, prefix, row["output"], 160, add_eos=True)
        assert got.tolist() == list(seq.input_ids) and start == seq.target_start


def test_loss_is_the_mean_nll_of_response_tokens(samples, tiny_model_dir):
    _, _, ids, starts = samples
    model = _model(tiny_model_dir)
    nll, n = model(
        **{
            k: v
            for k, v in _batch(ids[:1], starts[:1], False).items()
            if k in ("input_ids", "position_ids", "attention_mask", "labels")
        }
    )
    x = torch.tensor(ids[0][None], dtype=torch.long)  # (1, T)
    with torch.no_grad():
        logp = model.lm(input_ids=x).logits[0].log_softmax(-1)  # (T, V)
    t = starts[0]
    expected = -logp[t - 1 : -1].gather(1, x[0, t:, None]).sum()
    assert n == len(ids[0]) - t
    assert torch.allclose(nll, expected, rtol=1e-5)


def _loss_and_grads(model, batch):
    model.zero_grad()
    nll, n = model(
        batch["input_ids"], batch["position_ids"], batch["attention_mask"], batch["labels"]
    )
    nll.backward()
    return nll.detach(), n, {k: p.grad.clone() for k, p in model.named_parameters()}


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_and_unpacked_losses_are_equal(samples, tiny_model_dir, attn):
    _, _, ids, starts = samples
    model = _model(tiny_model_dir, attn)
    unpacked = _batch(ids, starts, packing=False)  # (8, T)
    packed = _batch(ids, starts, packing=True, capacity=512)  # (R, <=512), R < 8
    assert 1 < packed["input_ids"].shape[0] < N and unpacked["input_ids"].shape[0] == N
    a, n_a, g_a = _loss_and_grads(model, unpacked)
    b, n_b, g_b = _loss_and_grads(model, packed)
    assert n_a == n_b
    assert torch.allclose(a, b, rtol=1e-5), (a, b)
    worst = max(float((g_a[k] - g_b[k]).abs().max() / g_a[k].abs().max()) for k in g_a)
    assert worst < 1e-4, worst


def test_flattened_varlen_layout_gives_the_same_loss(samples, tiny_model_dir):
    """The flash-attention path flattens a micro-batch to one row; on CPU the block mask stands in for the kernel."""
    _, _, ids, starts = samples
    model = _model(tiny_model_dir)
    batch = _batch(ids, starts, packing=False)
    flat, kwargs = flatten_varlen(batch)
    cu = kwargs["cu_seq_lens_q"]
    assert len(cu) == N + 1 and cu[-1] == sum(len(i) for i in ids) == flat["input_ids"].shape[1]
    flat_batch = {**flat, "attention_mask": torch.ones_like(flat["input_ids"])}
    a, _, _ = _loss_and_grads(model, batch)
    b, _, _ = _loss_and_grads(model, flat_batch)
    assert torch.allclose(a, b, rtol=1e-5)


def test_accumulation_equals_one_big_batch(samples, tiny_model_dir):
    """Global-token normalization: 4 micro-batches of 2 step exactly like 1 micro-batch of 8."""
    _, _, ids, starts = samples
    # a large eps makes Adam's first update proportional to the gradient, so the parameters
    # compare the gradients (with eps ~0 it is sign(g), which flips on near-zero gradients)
    cfg = TrainConfig(
        lr=1e-2,
        warmup_ratio=0.0,
        grad_clip=1.0,
        global_batch_size=8,
        micro_batch_size=2,
        adam_eps=1.0,
    )
    results, params = [], []
    for micro in (8, 2):
        model = _model(tiny_model_dir)
        opt, sched = build_optimizer(model, cfg, total_steps=10)
        layout = Layout(8, 1, micro)
        s = build_schedule([str(i) for i in range(N)], ids, starts, layout, 1, 0, False, 512)
        t = s.rank_tables[0]
        mbs = [collate_rows(rows_of(t.slice(i, micro)), 0) for i in range(0, 8, micro)]
        results.append(train_step(model, mbs, opt, sched, cfg.grad_clip, world_size=1))
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    big, small = results
    assert big.target_tokens == small.target_tokens and big.tokens == small.tokens
    assert big.loss == pytest.approx(small.loss, rel=1e-5)
    assert big.grad_norm == pytest.approx(small.grad_norm, rel=1e-4)
    assert torch.allclose(params[0], params[1], rtol=1e-5, atol=1e-8)


def test_cosine_schedule_with_warmup():
    assert [cosine_with_warmup(s, 2, 10, 0.0) for s in (0, 1)] == [0.5, 1.0]
    assert cosine_with_warmup(2, 2, 10, 0.0) == pytest.approx(1.0)
    assert cosine_with_warmup(6, 2, 10, 0.0) == pytest.approx(0.5)
    assert cosine_with_warmup(10, 2, 10, 0.1) == pytest.approx(0.1)


def test_rows_keep_their_step_columns(samples):
    _, _, ids, starts = samples
    b = _batch(ids, starts, packing=False)
    assert b[C.STEP].tolist() == [1] * N and b[C.MICRO].tolist() == [0] * N
