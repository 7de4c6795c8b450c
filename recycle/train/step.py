"""One optimizer step: AdamW, cosine schedule with warmup, accumulation, clipping, global-token loss.

The loss of a step is the summed NLL of every target token of the global batch divided by the
number of those tokens over all workers and micro-batches. Each micro-batch's backward uses
that global denominator, so accumulation and data parallelism give exactly the gradient of the
global mean, however the tokens fall across workers. FSDP averages gradients over the workers,
so the local loss is scaled by the world size to turn that average back into the sum.

Works the same without torch.distributed (world size 1), which is how tests compare an FSDP2
run against a single process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from recycle.config.train import TrainConfig
from recycle.train.batches import ATTENTION_MASK, INPUT_IDS, LABELS, POSITION_IDS, count_targets


@dataclass(frozen=True)
class StepResult:
    """What one optimizer step did, identical on every rank except the local counts."""

    loss: float  # global mean NLL over the step's target tokens
    grad_norm: float  # global gradient norm before clipping
    lr: float  # learning rate the step used
    target_tokens: int  # over all workers
    tokens: int  # real (non-padding) tokens over all workers
    local_tokens: int  # real tokens of this worker


def cosine_with_warmup(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """LR multiplier at a 0-based step: linear warmup to 1, then cosine down to `min_ratio`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def build_optimizer(
    model: nn.Module, cfg: TrainConfig, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (no weight decay on norms and biases) and its warmup + cosine schedule."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    fused = all(p.device.type == "cuda" for p in model.parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_eps,
        fused=fused or None,
    )
    warmup = math.ceil(cfg.warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_with_warmup(s, warmup, total_steps, cfg.min_lr_ratio)
    )
    return optimizer, scheduler


def all_sum(values: Sequence[float | int], device: torch.device) -> list[float]:
    """Sum of each value over all ranks (the values themselves without torch.distributed)."""
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)  # (K,)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t)
    return t.tolist()


def _full(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's full value (FSDP2 gradient norms are DTensors); plain tensors as they are."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def set_gradient_sync(model: nn.Module, sync: bool) -> None:
    """Whether FSDP2 reduces gradients after the next backward (no-op on an unsharded model).

    Off, each worker accumulates its unsharded gradients (in the reduce dtype) and nothing is
    sent; the next backward with sync on reduces the sum once. Reduction is linear, so the
    reduced gradient is the same as reducing every micro-batch.
    """
    from torch.distributed.fsdp import FSDPModule

    if isinstance(model, FSDPModule):
        model.set_requires_gradient_sync(sync)


def train_step(
    model: nn.Module,
    micro_batches: Sequence[dict[str, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    grad_clip: float | None,
    world_size: int,
    sync_last_micro_batch_only: bool = False,
) -> StepResult:
    """Forward/backward every micro-batch of this worker, then one clipped optimizer step.

    Args:
        model: a `CausalLMLoss` (FSDP2-sharded or not).
        micro_batches: this worker's micro-batches of the step, as from `collate_rows`.
        optimizer, scheduler: from `build_optimizer`.
        grad_clip: max global gradient norm; None only measures it.
        world_size: number of data-parallel workers (FSDP averages their gradients).
        sync_last_micro_batch_only: reduce gradients after the last micro-batch only
            (train.grad_sync=last_micro_batch); else after every one.
    """
    device = micro_batches[0][INPUT_IDS].device
    local_targets = sum(int(count_targets(mb)) for mb in micro_batches)
    local_tokens = sum(int(mb[ATTENTION_MASK].sum()) for mb in micro_batches)
    n_targets, n_tokens = all_sum([local_targets, local_tokens], device)
    lr = scheduler.get_last_lr()[0]
    nll_sum = torch.zeros((), dtype=torch.float32, device=device)
    last = len(micro_batches) - 1
    for i, mb in enumerate(micro_batches):
        set_gradient_sync(model, i == last or not sync_last_micro_batch_only)
        nll, _ = model(mb[INPUT_IDS], mb[POSITION_IDS], mb[ATTENTION_MASK], mb[LABELS])
        (nll * (world_size / n_targets)).backward()
        nll_sum += nll.detach()
    norm = torch.nn.utils.clip_grad_norm_(
        model.parameters(), grad_clip if grad_clip else float("inf")
    )
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    (total_nll,) = all_sum([float(nll_sum)], device)
    return StepResult(
        total_nll / n_targets, float(_full(norm)), lr, int(n_targets), int(n_tokens), local_tokens
    )
