"""The scorer on CUDA: bf16 with SDPA (or flash-attention) agrees with the fp32 CPU reference."""

from __future__ import annotations

import math

import pytest
import torch

from recycle.config.student import StudentConfig
from recycle.student.model import load_student
from recycle.student.scoring import score_columns
from recycle.student.variants import Variant
from tests.support.tiny_model import alpaca_rows

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_cuda_bf16_scores_match_cpu_fp32(tiny_model_dir):
    rows = alpaca_rows(16)
    cols = {k: [r[k] for r in rows] for k in ("instruction", "input", "output")}
    cpu = StudentConfig(model=str(tiny_model_dir), max_length=512, batch_tokens=4096, device="cpu")
    gpu = cpu.model_copy(update={"device": "cuda"})
    model, tokenizer = load_student(gpu)
    assert model.dtype == torch.bfloat16 and model.device.type == "cuda"
    got, _ = score_columns(model, tokenizer, cols, [Variant(rifd=True)], gpu)
    model, tokenizer = load_student(cpu)
    want, _ = score_columns(model, tokenizer, cols, [Variant(rifd=True)], cpu)
    for col in ("loss_y_given_x", "loss_y", "loss_x_given_y", "loss_x"):
        for a, b in zip(got[col], want[col], strict=True):
            assert math.isnan(a) == math.isnan(b)
            assert math.isnan(a) or abs(a - b) < 0.05  # bf16 weights and activations
