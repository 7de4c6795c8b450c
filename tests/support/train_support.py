"""Helpers of the fine-tuning tests: a tiny training config and a single-process reference run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import torch

from recycle import columns as C
from recycle.config import RecycleConfig, load_config

# 2 workers x micro-batch 2 x accumulation 2 = global batch 8; fp32 so runs compare exactly.
TINY_TRAIN = (
    "train.num_workers=2",
    "train.cpus_per_worker=0.5",  # leaves room on a 2-CPU Ray for what earlier tests still hold
    "train.micro_batch_size=2",
    "train.global_batch_size=8",
    "train.max_length=128",
    "train.lr=3e-3",
    "train.warmup_ratio=0.1",
    "train.epochs=1",
    "train.mixed_precision=fp32",
    "train.checkpoint_every_steps=8",
    "train.max_failures=0",
    "ray.num_cpus=2",
)


def tiny_train_config(model_dir: Path, data: Path, out: Path, *overrides: str) -> RecycleConfig:
    """The tiny CPU recipe on `data`, writing to `out`; later overrides win."""
    base = [f"student.model={model_dir}", f"data.input={data}", f"output.dir={out}", *TINY_TRAIN]
    return load_config(None, [*base, *overrides])


def tokenized_alpaca(
    model_dir: Path, n: int, max_length: int
) -> tuple[Any, list[dict], list, list]:
    """(tokenizer, rows, token ids, target starts) of the first `n` real Alpaca rows (vicuna)."""
    import numpy as np
    from transformers import AutoTokenizer

    from recycle.train.samples import tokenize_samples
    from tests.support import tiny_model

    tok = AutoTokenizer.from_pretrained(model_dir)
    rows = tiny_model.alpaca_rows(n)
    ids, starts, errors = tokenize_samples(
        tok,
        [r["instruction"] for r in rows],
        [r["input"] for r in rows],
        [r["output"] for r in rows],
        "vicuna",
        max_length,
    )
    assert errors == [""] * n
    return tok, rows, [np.asarray(i, dtype=np.int32) for i in ids], starts


def step_micro_batches(
    tables: list[pa.Table], step: int, micro_batch_size: int, pad_id: int
) -> list[dict[str, torch.Tensor]]:
    """Every worker's micro-batches of one step, collated as the workers collate them."""
    from recycle.train.batches import collate_rows

    out = []
    for table in tables:
        rows = table.filter(pc.equal(table[C.STEP], step))
        for start in range(0, rows.num_rows, micro_batch_size):
            part = rows.slice(start, micro_batch_size)
            out.append(
                collate_rows(
                    {k: part[k].to_numpy(zero_copy_only=False) for k in part.column_names}, pad_id
                )
            )
    return out


def single_process_losses(
    cfg: RecycleConfig, tables: list[pa.Table], total_steps: int, pad_id: int, steps: int
) -> list[float]:
    """Losses of the first `steps` steps trained in this process, without FSDP or Ray.

    Same schedule, same optimizer and schedule, world size 1: what an FSDP2 run must reproduce.
    """
    from transformers import AutoModelForCausalLM

    from recycle.train.model import CausalLMLoss
    from recycle.train.step import build_optimizer, train_step

    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_pretrained(
        cfg.student.model, dtype=torch.float32, attn_implementation="sdpa"
    )
    model = CausalLMLoss(lm).train()
    optimizer, scheduler = build_optimizer(model, cfg.train, total_steps)
    losses = []
    for step in range(1, steps + 1):
        batches = step_micro_batches(tables, step, cfg.train.micro_batch_size, pad_id)
        losses.append(train_step(model, batches, optimizer, scheduler, cfg.train.grad_clip, 1).loss)
    return losses


def rows_of(table: pa.Table) -> dict[str, Any]:
    """A table as the numpy batch `collate_rows` receives."""
    return {k: table[k].to_numpy(zero_copy_only=False) for k in table.column_names}
