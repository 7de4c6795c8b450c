"""Gradient accumulation on 2 FSDP2 ranks (gloo, CPU): reducing only after the last micro-batch
gives the same loss, gradient norm and weights as reducing after every one, with fewer
reduce-scatters; a bf16 reduction stays close; and both match one unsharded process."""

import pytest
import torch

from recycle.train.model import CausalLMLoss, precision_policy
from recycle.train.schedule import Layout
from recycle.train.step import build_optimizer, train_step
from tests.unit.train.fsdp_workers import CFG, accumulation_worker, write_batches
from tests.unit.train.gloo_ranks import run_ranks

WORLD = 2
LAYOUT = Layout(global_rows=8, num_workers=WORLD, micro_batch_size=2)  # 2 micro-batches each
FSDP_UNITS = 3  # 2 decoder layers + the root


@pytest.fixture(scope="module")
def ranks(tiny_model_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("accumulation")
    write_batches(tiny_model_dir, workdir, LAYOUT)
    data = torch.load(workdir / "batches.pt", weights_only=False)
    return run_ranks(accumulation_worker, WORLD, workdir), data


def _single_process(model_dir, data):
    """The same step, unsharded, every rank's micro-batches in one process."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="sdpa"
    )
    model = CausalLMLoss(lm)
    optimizer, scheduler = build_optimizer(model, CFG, total_steps=10)
    batches = [mb for rank in data["ranks"] for mb in rank[0]]
    r = train_step(model, batches, optimizer, scheduler, CFG.grad_clip, 1)
    return r, {"lm." + k: v for k, v in lm.state_dict().items()}


def test_no_sync_accumulation_equals_reducing_every_micro_batch(ranks):
    out, _ = ranks
    every, last = out["every"], out["last"]
    assert every["reduce_scatters"] == FSDP_UNITS * LAYOUT.accum_steps == 6
    assert last["reduce_scatters"] == FSDP_UNITS  # only the last micro-batch's backward
    assert last["loss"] == pytest.approx(every["loss"], rel=1e-6)
    assert last["grad_norm"] == pytest.approx(every["grad_norm"], rel=1e-5)
    for k, v in every["params"].items():
        assert torch.allclose(last["params"][k], v, rtol=1e-5, atol=1e-7), k
    bf16 = out["bf16"]["params"]
    # the comparison can fail: a bf16 reduction already moves the weights measurably
    assert max(float((v - bf16[k]).abs().max()) for k, v in every["params"].items()) > 1e-7


def test_sharded_steps_match_one_unsharded_process(ranks, tiny_model_dir):
    out, data = ranks
    single, weights = _single_process(tiny_model_dir, data)
    assert out["last"]["loss"] == pytest.approx(single.loss, rel=1e-5)
    assert out["last"]["grad_norm"] == pytest.approx(single.grad_norm, rel=1e-4)
    for k, v in out["last"]["params"].items():
        assert torch.allclose(weights[k], v, rtol=1e-4, atol=1e-6), k


def test_bf16_reduction_is_close_to_fp32(ranks):
    out, _ = ranks
    fp32, bf16 = out["last"], out["bf16"]
    assert bf16["loss"] == pytest.approx(fp32["loss"], rel=1e-6)  # forward is unchanged
    assert bf16["grad_norm"] == pytest.approx(fp32["grad_norm"], rel=1e-2)
    for k, v in fp32["params"].items():
        # lr 1e-2 moves each weight by up to ~1e-2; bf16 gradients change that by < 1%
        assert torch.allclose(bf16["params"][k], v, rtol=0, atol=2e-4), k


def test_precision_policy_carries_the_reduce_dtype():
    p = precision_policy("bf16", "bf16")
    assert (p.param_dtype, p.reduce_dtype) == (torch.bfloat16, torch.bfloat16)
    p = precision_policy("fp32", "fp32")
    assert (p.param_dtype, p.reduce_dtype) == (None, torch.float32)
    p = precision_policy("bf16", "fp32")
    assert (p.param_dtype, p.reduce_dtype) == (torch.bfloat16, torch.float32)
