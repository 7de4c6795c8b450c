"""The batched student scorer against the authors' loop: same model, rows and machine, one run.

(a) the authors' way: one sequence per forward, logits for every position, loss on the target
span; (b) `recycle.student.scoring.score_columns`: length-sorted micro-batches under a token
budget, only target positions projected on the vocabulary. Both compute the four losses of
IFD and r-IFD and must agree (the max difference is reported). Runs alternate chunk by chunk and in
both orders, so a busy machine slows both alike.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from recycle import columns as C
from recycle.bench.data import columns
from recycle.config.student import StudentConfig
from recycle.student.planning import plan_pairs
from recycle.student.scoring import score_columns
from recycle.student.variants import Variant

FOUR_LOSSES = [Variant(ifd=True, rifd=True)]
CHUNK = 8  # rows per interleaved timing chunk
LOOP, BATCHED = "per-sample loop", "batched scorer"


@dataclass
class MethodTotals:
    """Accumulated cost of one scoring method."""

    wall: float = 0.0
    cpu: float = 0.0
    tokens: int = 0  # tokens forwarded
    projected: int = 0  # positions projected on the vocabulary
    losses: list[float] = field(default_factory=list)


@torch.inference_mode()
def per_sample_loop(model, tokenizer, cols, cfg: StudentConfig) -> tuple[list[float], int, int]:
    """The authors' way: each sequence alone, logits for all positions, loss on the target span."""
    jobs = plan_pairs(
        tokenizer, cfg.template, cfg.max_length, cols, FOUR_LOSSES, range(len(cols[C.OUTPUT]))
    )
    losses, tokens = [], 0
    for seq in (s for j in jobs if not j.cond.error for s in (j.cond, j.uncond)):
        ids = torch.tensor([seq.input_ids], device=model.device)  # (1, T)
        logp = model(input_ids=ids).logits[0].float().log_softmax(-1)  # (T, V): every position
        t = seq.target_start
        losses.append(-logp[t - 1 : -1].gather(1, ids[0, t:, None]).mean().item())
        tokens += len(seq.input_ids)
    return losses, tokens, tokens


def batched(model, tokenizer, cols, cfg: StudentConfig) -> tuple[list[float], int, int]:
    """The pipeline's scorer on the same rows, losses in the loop's order."""
    out, stats = score_columns(model, tokenizer, cols, FOUR_LOSSES, cfg)
    order = [(C.LOSS_Y_GIVEN_X, C.LOSS_Y), (C.LOSS_X_GIVEN_Y, C.LOSS_X)]
    losses = [out[c][r] for r in range(len(cols[C.OUTPUT])) for pair in order for c in pair]
    return [v for v in losses if not math.isnan(v)], stats.tokens, stats.projected


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, float, Any]:
    """(wall seconds, process CPU seconds, what fn returned)."""
    synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def forward_flops(model, tokens: int, projected: int) -> float:
    """2 x (non-embedding parameters) per token, plus 2 x H x V per position projected on V."""
    head = model.get_output_embeddings().weight
    embed = model.get_input_embeddings().weight
    body = (
        sum(p.numel() for p in model.parameters())
        - embed.numel()
        - (0 if head is embed else head.numel())
    )
    return 2.0 * body * tokens + 2.0 * head.numel() * projected


def compare(
    model, tokenizer, cfg: StudentConfig, rows: list[dict[str, str]], repeats: int
) -> dict[str, MethodTotals]:
    """Both methods over `rows`, `repeats` times, interleaved; totals per method."""
    methods = {LOOP: per_sample_loop, BATCHED: batched}
    for fn in methods.values():
        fn(model, tokenizer, columns(rows[:4]), cfg)  # warm-up
    totals = {name: MethodTotals() for name in methods}
    for rep in range(repeats):
        for k, start in enumerate(range(0, len(rows), CHUNK)):
            cols = columns(rows[start : start + CHUNK])
            order = list(methods) if (k + rep) % 2 == 0 else list(methods)[::-1]
            for name in order:
                wall, cpu, (got, tokens, projected) = timed(
                    methods[name], model, tokenizer, cols, cfg
                )
                t = totals[name]
                t.wall, t.cpu, t.tokens, t.projected = (
                    t.wall + wall,
                    t.cpu + cpu,
                    t.tokens + tokens,
                    t.projected + projected,
                )
                t.losses += got if rep == 0 else []
    return totals


def report(
    model, totals: dict[str, MethodTotals], n_rows: int, repeats: int, peak: float | None
) -> tuple[list[str], float, float | None]:
    """Printable lines, the speedup of the batched scorer and its forward MFU (None off GPU)."""
    ref, got = totals[LOOP].losses, totals[BATCHED].losses
    diff = max(abs(a - b) for a, b in zip(ref, got, strict=True))
    lines = [
        f"scoring: {n_rows} Alpaca rows x 4 losses ({len(ref)} sequences) x {repeats}, "
        f"max |batched - loop| = {diff:.2e}"
    ]
    mfu: dict[str, float | None] = {}
    for name, t in totals.items():
        mfu[name] = forward_flops(model, t.tokens, t.projected) / t.wall / peak if peak else None
        shown = f", forward MFU {mfu[name]:.1%}" if mfu[name] is not None else ""
        lines.append(
            f"  {name:16s} {t.wall:7.2f} s wall ({t.cpu:7.2f} s CPU)  {t.tokens / t.wall:8.0f} "
            f"tokens/s  {n_rows * repeats / t.wall:6.2f} samples/s{shown}"
        )
    return lines, totals[LOOP].wall / totals[BATCHED].wall, mfu[BATCHED]
