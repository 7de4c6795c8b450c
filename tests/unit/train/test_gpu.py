"""GPU-only paths: flash-attention varlen must give the loss of the SDPA block mask (skipped without CUDA)."""

import importlib.util

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from recycle.train.batches import collate_rows
from recycle.train.model import CausalLMLoss
from recycle.train.schedule import Layout, build_schedule
from tests.support.train_support import rows_of

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is None, reason="needs flash-attn")
def test_flash_varlen_matches_sdpa_block_mask(tiny_model_dir):
    rng = np.random.default_rng(0)
    ids = [rng.integers(5, 1900, size=n).astype(np.int32) for n in (40, 75, 120, 33, 64, 90)]
    starts = [10, 20, 30, 5, 16, 45]
    s = build_schedule([str(i) for i in range(6)], ids, starts, Layout(2, 1, 2), 1, 0, True, 256)
    batch = {k: v.cuda() for k, v in collate_rows(rows_of(s.rank_tables[0]), 0).items()}
    losses = {}
    for attn in ("sdpa", "flash_attention_2"):
        lm = AutoModelForCausalLM.from_pretrained(
            tiny_model_dir, dtype=torch.bfloat16, attn_implementation=attn
        ).cuda()
        with torch.no_grad():
            nll, n = CausalLMLoss(lm)(
                batch["input_ids"], batch["position_ids"], batch["attention_mask"], batch["labels"]
            )
        losses[attn] = float(nll / n)
    assert losses["flash_attention_2"] == pytest.approx(losses["sdpa"], rel=2e-2)
