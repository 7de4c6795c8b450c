"""The GPU benchmark in one command, for a bare machine with only PyTorch and transformers.

A random-init model of Llama-2-7B's shape (no weights to download: throughput does not depend on
the weights), real Alpaca rows, one process, no Ray and no vLLM:

(a) IFD / r-IFD scoring, bf16: the batched scorer against the authors' one-sequence-per-forward
    loop on the same rows in the same run (recycle.bench.scoring): tokens/s, speedup, forward MFU.
(b) one FSDP2 training step as the Ray Train workers run it (`CausalLMLoss`, `fully_shard` per
    decoder layer, bf16 compute over fp32 weights, activation checkpointing, packed rows): tokens/s
    and MFU (PaLM accounting, recycle.train.metrics). The optimizer is plain SGD: AdamW's two fp32
    states of a 7B model do not fit beside its fp32 weights and gradients on one 80 GB GPU (on a
    cluster FSDP shards them over the workers); the forward and backward are the same.
(c) when flash-attn is importable, the same step with its varlen kernel against SDPA.

`--dry-run` runs every part on the CPU with tiny shapes (gloo), so CI keeps the script working.
"""

from __future__ import annotations

import gc
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import torch

from recycle import columns as C
from recycle.bench import scoring
from recycle.bench.data import alpaca_rows, offline_tokenizer
from recycle.config.student import StudentConfig
from recycle.student.model import dtype_kwarg
from recycle.train.batches import collate_rows
from recycle.train.metrics import ModelShape, StepMeter, mean_context, peak_flops
from recycle.train.model import CausalLMLoss, enable_activation_checkpointing, shard
from recycle.train.samples import tokenize_samples
from recycle.train.schedule import Layout, build_schedule, epoch_rows
from recycle.train.step import train_step

FLASH, SDPA = "flash_attention_2", "sdpa"


@dataclass(frozen=True)
class Shape:
    """A Llama architecture's size."""

    name: str
    layers: int
    hidden: int
    intermediate: int
    heads: int
    vocab: int


LLAMA2_7B = Shape("Llama-2-7B", 32, 4096, 11008, 32, 32000)
LLAMA_1B = Shape("Llama ~1B (16 x 2048)", 16, 2048, 5504, 16, 32000)  # 0.94B with this vocabulary
TINY = Shape("tiny Llama", 2, 64, 172, 4, 2000)


@dataclass(frozen=True)
class Plan:
    """What one benchmark run does."""

    shape: Shape
    device: torch.device
    score_rows: int
    score_repeats: int
    max_length: int  # scoring max length and packed row capacity
    batch_tokens: int  # scorer micro-batch token budget
    micro_rows: int  # packed rows per training micro-batch
    accum: int  # micro-batches per training step
    steps: int  # timed training steps (after one warm-up step)
    workdir: Path

    @property
    def bf16(self) -> bool:
        return self.device.type == "cuda"


def make_plan(dry_run: bool, workdir: str, steps: int, score_rows: int) -> Plan:
    """The GPU plan, or the tiny CPU plan of `--dry-run`."""
    if dry_run:
        return Plan(TINY, torch.device("cpu"), 8, 1, 256, 2048, 2, 2, 2, Path(workdir))
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --dry-run to check the script on the CPU")
    return Plan(
        LLAMA2_7B, torch.device("cuda"), score_rows, 2, 2048, 16384, 2, 4, steps, Path(workdir)
    )


def llama_config(shape: Shape, tokenizer: Any, max_positions: int) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=max(shape.vocab, len(tokenizer)),
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        use_cache=False,
    )


def random_model(config: Any, device: torch.device, dtype: torch.dtype, attn: str) -> Any:
    """A random-init causal LM built directly on the device."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(
            config, attn_implementation=attn, **dtype_kwarg(dtype)
        )


def release(*objects: Any) -> None:
    """Free a model's device memory before the next one is built."""
    del objects
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def bench_scoring(plan: Plan, tokenizer: Any, config: Any, rows: list[dict]) -> dict[str, Any]:
    """(a): the batched scorer against the per-sample loop."""
    dtype = torch.bfloat16 if plan.bf16 else torch.float32
    lm = random_model(config, plan.device, dtype, SDPA).eval()
    cfg = StudentConfig(
        model="random-init", max_length=plan.max_length, batch_tokens=plan.batch_tokens
    )
    picked = rows[: plan.score_rows]
    totals = scoring.compare(lm, tokenizer, cfg, picked, plan.score_repeats)
    peak = peak_flops(plan.device, "bf16", None)
    lines, speedup, mfu = scoring.report(lm, totals, len(picked), plan.score_repeats, peak)
    print("\n".join(lines), flush=True)
    out = {
        "speedup": speedup,
        "mfu": mfu,
        "tokens_per_s": totals[scoring.BATCHED].tokens / totals[scoring.BATCHED].wall,
    }
    release(lm)
    return out


def packed_steps(plan: Plan, tokenizer: Any, rows: list[dict]) -> list[list[dict]]:
    """Micro-batches of `plan.steps + 1` training steps, packed as the training job packs them."""
    ids, starts, errors = tokenize_samples(
        tokenizer,
        [r[C.INSTRUCTION] for r in rows],
        [r.get(C.INPUT, "") for r in rows],
        [r[C.OUTPUT] for r in rows],
        StudentConfig().template,
        plan.max_length,
    )
    keep = [i for i, e in enumerate(errors) if not e]
    seqs = [np.asarray(ids[i], dtype=np.int64) for i in keep]
    layout = Layout(plan.micro_rows * plan.accum, 1, plan.micro_rows)
    per_epoch = len(epoch_rows(len(seqs), [len(s) for s in seqs], 0, 0, True, plan.max_length))
    n_steps = plan.steps + 1
    epochs = math.ceil(n_steps * layout.global_rows / max(per_epoch - 1, 1)) + 1
    schedule = build_schedule(
        [str(i) for i in keep], seqs, [starts[i] for i in keep], layout, epochs, 0, True,
        plan.max_length, max_steps=n_steps,
    )  # fmt: skip
    table = schedule.rank_tables[0]
    steps = []
    for step in range(1, n_steps + 1):
        part = table.filter(pc.equal(table[C.STEP], step))
        steps.append(
            [
                {k: v.to(plan.device) for k, v in collate_rows(_numpy(mb), tokenizer.pad_token_id).items()}
                for mb in (part.slice(i, plan.micro_rows) for i in range(0, part.num_rows, plan.micro_rows))
            ]
        )  # fmt: skip
    return steps


def _numpy(table: Any) -> dict[str, np.ndarray]:
    return {k: table[k].to_numpy(zero_copy_only=False) for k in table.column_names}


def single_rank_mesh(device: torch.device) -> Any:
    """A one-process process group and 1-D device mesh, as one Ray Train worker sees it."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    if not dist.is_initialized():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(port))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=0, world_size=1)
    return init_device_mesh(device.type, (1,))


def bench_train(plan: Plan, config: Any, steps: list[list[dict]], attn: str) -> dict[str, Any]:
    """(b): FSDP2 training steps on one device; tokens/s and MFU of the timed steps."""
    lm = random_model(config, plan.device, torch.float32, attn)
    enable_activation_checkpointing(lm)  # every transformers version the project accepts
    n_params = sum(p.numel() for p in lm.parameters())
    model = CausalLMLoss(lm)
    shard(model, single_rank_mesh(plan.device), "bf16" if plan.bf16 else "fp32")
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)  # stateless: see the module doc
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    peak = peak_flops(plan.device, "bf16", None)
    shape = ModelShape(n_params, config.num_hidden_layers, config.hidden_size)
    meter = StepMeter(shape, 1, peak, plan.device, len(steps))
    timed = []
    for step, micro_batches in enumerate(steps, start=1):
        meter.start()
        result = train_step(model, micro_batches, optimizer, scheduler, 1.0, 1)
        metrics = meter.metrics(step, 0, result, mean_context(micro_batches))
        print(
            f"  [{attn}] step {step}: {metrics['tokens']} tokens, {metrics['step_time_s']:.2f} s, "
            f"loss {metrics['loss']:.3f}, peak memory {metrics['peak_memory_gb']:.1f} GB"
            + (" (warm-up)" if step == 1 else ""),
            flush=True,
        )
        timed += [metrics] if step > 1 else []
    seconds = sum(m["step_time_s"] for m in timed)
    out = {"tokens_per_s": sum(m["tokens"] for m in timed) / seconds, "params": n_params}
    out["mfu"] = sum(m["mfu"] * m["step_time_s"] for m in timed) / seconds if peak else None
    release(model, lm, optimizer)
    return out


def flash_available(plan: Plan) -> bool:
    if plan.device.type != "cuda":
        return False
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return True


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "n/a (no GPU peak)"


def measure(plan: Plan) -> dict[str, Any]:
    """Every part of the benchmark; returns its figures (scoring, training, flash, wall_s)."""
    started = time.perf_counter()
    rows = alpaca_rows()
    tokenizer = offline_tokenizer(plan.workdir, rows, vocab_size=plan.shape.vocab)
    config = llama_config(plan.shape, tokenizer, plan.max_length)
    name = torch.cuda.get_device_name() if plan.device.type == "cuda" else "CPU"
    print(f"device: {name}; model: {plan.shape.name} shape, random init; {len(rows)} Alpaca rows")
    out: dict[str, Any] = {"device": name, "shape": plan.shape.name}
    out["scoring"] = bench_scoring(plan, tokenizer, config, rows)
    steps = packed_steps(plan, tokenizer, rows)
    out["training"] = bench_train(plan, config, steps, SDPA)
    out["flash"] = bench_train(plan, config, steps, FLASH) if flash_available(plan) else None
    out["wall_s"] = time.perf_counter() - started
    return out


def figure_lines(figures: dict[str, Any]) -> list[str]:
    """The closing lines of the benchmark's output, from `measure`'s figures."""
    score, train, flash = figures["scoring"], figures["training"], figures["flash"]
    lines = [
        f"scoring: batched {score['tokens_per_s']:,.0f} tokens/s, {score['speedup']:.1f}x the "
        f"per-sample loop, forward MFU {_pct(score['mfu'])} (goals: >= 10x, >= 50%)",
        f"training: FSDP2 step, packed, SDPA: {train['tokens_per_s']:,.0f} tokens/s, "
        f"MFU {_pct(train['mfu'])} (goal: >= 45%); {train['params'] / 1e9:.2f}B parameters",
    ]
    if flash is not None:
        lines.append(
            f"flash-attn varlen vs SDPA: {flash['tokens_per_s'] / train['tokens_per_s']:.2f}x "
            f"({flash['tokens_per_s']:,.0f} tokens/s, MFU {_pct(flash['mfu'])})"
        )
    else:
        lines.append("flash-attn varlen vs SDPA: skipped (flash-attn not importable or no GPU)")
    lines.append(f"wall: {figures['wall_s']:.0f} s")
    return lines


def run(plan: Plan) -> list[str]:
    """Every part of the benchmark; returns the figure lines that close the output."""
    return figure_lines(measure(plan))
