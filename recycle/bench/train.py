"""Fine-tuning throughput through the real Ray Train + FSDP2 path (jobs/bench_train.py).

1. CPU: tokens/s per worker of the tiny Llama (2 layers, 64 wide, 2k vocabulary) on real Alpaca
   rows, Ray Train workers over gloo, fp32, without and with packing, side by side. A step's time
   excludes the metric report and checkpoint; the first two steps are warm-up.
2. GPU, when CUDA is visible: a 1B-class Llama (TinyLlama-1.1B shape, random init) on one GPU,
   bf16, packing, max length 2048: tokens/s and MFU.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from recycle.bench.data import alpaca_path, alpaca_rows
from recycle.commands.train import run_finetune
from recycle.config import load_config
from recycle.testing import tiny_student
from recycle.train.metrics_log import read_metrics


def alpaca_tokenizer_dir(root: Path) -> Path:
    """The tiny 2k-vocabulary BPE trained on the Alpaca rows."""
    texts = (r[k] for r in alpaca_rows() for k in ("instruction", "input", "output"))
    return tiny_student.build_tokenizer(root, texts)


WARMUP_STEPS = 2


def run_mode(model: Path, out: Path, overrides: list[str]) -> dict[str, float]:
    """One fine-tuning run; median and best throughput of the steps after warm-up."""
    cfg = load_config(
        None,
        [
            f"student.model={model}",
            f"data.input={alpaca_path()}",
            f"output.dir={out}",
            "train.export=false",
            *overrides,
        ],
    )
    run_finetune(cfg)
    steps = read_metrics(str(out))[WARMUP_STEPS:]
    out_metrics = {
        "steps": len(steps) + WARMUP_STEPS,
        "tokens_per_s_per_worker": statistics.median(m["tokens_per_s_per_worker"] for m in steps),
        "best_tokens_per_s_per_worker": max(m["tokens_per_s_per_worker"] for m in steps),
        "step_time_s": statistics.median(m["step_time_s"] for m in steps),
        "tokens_per_step": statistics.median(m["tokens"] for m in steps),
        "final_loss": steps[-1]["loss"],
    }
    if all("mfu" in m for m in steps):
        out_metrics["mfu"] = statistics.median(m["mfu"] for m in steps)
    return out_metrics


def cpu_bench(args: argparse.Namespace, root: Path) -> dict[str, dict[str, float]]:
    """The tiny model on CPU, without and with packing."""
    model = tiny_student.build_tiny_model(root, alpaca_tokenizer_dir(root))
    common = [
        f"data.limit={args.rows}",
        f"train.num_workers={args.workers}",
        "train.micro_batch_size=4",
        f"train.global_batch_size={4 * 2 * args.workers}",
        f"train.max_length={args.max_length}",
        f"train.max_steps={args.steps}",
        "train.epochs=1",
        "train.mixed_precision=fp32",
        "train.lr=1e-3",
        f"train.checkpoint_every_steps={args.steps}",
        "train.max_failures=0",
        f"ray.num_cpus={args.workers}",
    ]
    return {
        mode: run_mode(
            model,
            root / f"cpu_{mode}",
            [*common, f"train.packing={mode == 'packed'}", f"train.name=bench_{mode}"],
        )
        for mode in ("unpacked", "packed")
    }


def llama_1b(root: Path) -> Path:
    """A random-init Llama of the TinyLlama-1.1B shape, bf16, with the tiny tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = root / "llama_1b"
    tokenizer = AutoTokenizer.from_pretrained(alpaca_tokenizer_dir(root))
    config = LlamaConfig(
        vocab_size=32000,
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


GPU_RECIPE = [
    "data.limit=3000",
    "train.use_gpu=true",
    "train.num_workers=1",
    "train.micro_batch_size=4",
    "train.global_batch_size=16",
    "train.max_length=2048",
    "train.packing=true",
    "train.max_steps=30",
    "train.mixed_precision=bf16",
    "train.activation_checkpointing=false",
    "train.checkpoint_every_steps=30",
    "train.lr=1e-4",
    "train.name=bench_gpu",
]


def gpu_line(root: Path) -> str:
    """The 1B-class model on one GPU in bf16 with packing, or why it did not run."""
    import torch

    if not torch.cuda.is_available():
        return "gpu: no CUDA device here; the 1B-class bf16 benchmark runs where one is visible"
    g = run_mode(llama_1b(root), root / "gpu", GPU_RECIPE)
    mfu = f"{g['mfu']:.1%}" if "mfu" in g else "n/a (unknown GPU: set train.peak_tflops_per_worker)"
    return f"gpu 1B bf16 packed: {g['tokens_per_s_per_worker']:,.0f} tokens/s, MFU {mfu} (target >= 45%)"


def cpu_table(cpu: dict[str, dict[str, float]]) -> list[str]:
    """The CPU runs side by side, and the summary line."""
    head = f"{'mode':<10}{'steps':>6}{'tokens/step':>13}{'step s':>9}{'tok/s/worker median':>21}"
    lines = [head + f"{'best':>9}{'loss':>9}"]
    for mode, m in cpu.items():
        lines.append(
            f"{mode:<10}{m['steps']:>6}{m['tokens_per_step']:>13,.0f}{m['step_time_s']:>9.3f}"
            f"{m['tokens_per_s_per_worker']:>21,.0f}{m['best_tokens_per_s_per_worker']:>9,.0f}"
            f"{m['final_loss']:>9.4f}"
        )
    return lines
