"""Fine-tuning throughput through the real Ray Train + FSDP2 path (jobs/bench_train.py).

1. CPU: tokens/s per worker of the tiny Llama (2 layers, 64 wide, 2k vocabulary) on real Alpaca
   rows, Ray Train workers over gloo, fp32, without and with packing, side by side. A step's time
   excludes the metric report and checkpoint; the first two steps are warm-up.
2. GPU, when CUDA is visible: a 1B-class Llama (TinyLlama-1.1B shape, random init) on one GPU,
   bf16, packing, max length 2048: tokens/s and MFU.
3. What the efficiency settings save, computed without training: padding tokens per step with
   and without length-sorted micro-batches (the Alpaca rows, the tiny tokenizer, the 7B preset's
   layout), and gradient bytes each worker sends per step with reduction after every
   micro-batch, after the last only (train.grad_sync) and in bf16 (train.reduce_dtype), from the
   parameter counts of Llama-2-7B/13B and their presets' accumulation.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
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


def cpu_bench(
    args: argparse.Namespace, root: Path, tokenizer_dir: Path
) -> dict[str, dict[str, float]]:
    """The tiny model on CPU, without and with packing (rows sorted by length in each step)."""
    model = tiny_student.build_tiny_model(root, tokenizer_dir)
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


@dataclass(frozen=True)
class Preset:
    """The shape of a shipped fine-tuning preset (jobs/configs/llama2_*_finetune.yaml)."""

    name: str
    hidden: int
    intermediate: int
    layers: int
    vocab: int
    workers: int
    micro_batch: int
    global_batch: int = 128

    @property
    def params(self) -> int:
        """Parameters of the Llama (untied embeddings and head, RMSNorm weights)."""
        h, i = self.hidden, self.intermediate
        per_layer = 4 * h * h + 3 * h * i + 2 * h
        return 2 * self.vocab * h + self.layers * per_layer + h

    @property
    def accum(self) -> int:
        return self.global_batch // (self.workers * self.micro_batch)


LLAMA2_7B = Preset("7B", 4096, 11008, 32, 32000, workers=8, micro_batch=4)
LLAMA2_13B = Preset("13B", 5120, 13824, 40, 32000, workers=8, micro_batch=2)
DTYPE_BYTES = {"fp32": 4, "bf16": 2}


def reduce_bytes_per_step(preset: Preset, reduce_dtype: str, every_micro_batch: bool) -> float:
    """Bytes one worker sends per optimizer step reducing gradients (ring reduce-scatter over a
    flat mesh: (W - 1) / W of the gradient per reduction)."""
    reductions = preset.accum if every_micro_batch else 1
    share = (preset.workers - 1) / preset.workers
    return reductions * share * preset.params * DTYPE_BYTES[reduce_dtype]


def reduce_lines(presets: tuple[Preset, ...] = (LLAMA2_7B, LLAMA2_13B)) -> list[str]:
    """Gradient bytes per step and worker: every micro-batch fp32 (before), last only, + bf16."""
    lines = []
    for p in presets:
        before = reduce_bytes_per_step(p, "fp32", True)
        last = reduce_bytes_per_step(p, "fp32", False)
        bf16 = reduce_bytes_per_step(p, "bf16", False)
        lines.append(
            f"grad reduce {p.name} ({p.params / 1e9:.2f}B params, {p.workers} workers, accum {p.accum}): "
            f"every micro-batch fp32 {before / 1e9:.1f} GB/step/worker, last micro-batch only "
            f"{last / 1e9:.1f} GB ({before / last:.0f}x less), + reduce_dtype=bf16 {bf16 / 1e9:.1f} GB "
            f"({before / bf16:.0f}x less); last-only holds an unsharded fp32 gradient of "
            f"{p.params * DTYPE_BYTES['fp32'] / 1e9:.0f} GB per worker between micro-batches"
        )
    return lines


def padding_per_step(
    tokenizer_dir: Path, preset: Preset = LLAMA2_7B, max_length: int = 2048
) -> dict[str, float]:
    """Padding tokens per step of the Alpaca rows laid out like the preset, unsorted and sorted."""
    import numpy as np
    from transformers import AutoTokenizer

    from recycle.train.samples import tokenize_samples
    from recycle.train.schedule import Layout, build_schedule

    rows = alpaca_rows()
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    ids, starts, errors = tokenize_samples(
        tok,
        *([r[k] for r in rows] for k in ("instruction", "input", "output")),
        "vicuna",
        max_length,
    )
    keep = [i for i, e in enumerate(errors) if not e]
    ids = [np.asarray(ids[i], dtype=np.int32) for i in keep]
    starts = [starts[i] for i in keep]
    layout = Layout(preset.global_batch, preset.workers, preset.micro_batch)
    out: dict[str, float] = {"samples": len(ids)}
    for sort in (False, True):
        s = build_schedule(
            [str(i) for i in range(len(ids))],
            ids,
            starts,
            layout,
            1,
            0,
            False,
            max_length,
            sort_by_length=sort,
        )
        key = "sorted" if sort else "unsorted"
        out[key] = s.stats["padding_tokens"] / s.total_steps
        out["tokens"] = s.stats["tokens"] / s.total_steps
        out["steps"] = s.total_steps
    return out


def padding_line(pad: dict[str, float]) -> str:
    """Padding per step, unsorted vs sorted, as a share of the tokens computed."""

    def share(n: float) -> str:
        return f"{n / (n + pad['tokens']):.0%}"

    return (
        f"padding 7B layout (Alpaca {pad['samples']:.0f} rows, 128 rows/step, 8 workers x micro 4, "
        f"{pad['steps']:.0f} steps): real tokens {pad['tokens']:,.0f}/step; padding unsorted "
        f"{pad['unsorted']:,.0f} ({share(pad['unsorted'])} of computed), sorted {pad['sorted']:,.0f} "
        f"({share(pad['sorted'])}): {pad['unsorted'] / pad['sorted']:.1f}x less"
    )


def headline(pad: dict[str, float], preset: Preset = LLAMA2_7B) -> str:
    """The last line: what sorting and deferred bf16 reduction save at the 7B preset."""
    before = reduce_bytes_per_step(preset, "fp32", True)
    after = reduce_bytes_per_step(preset, "bf16", False)
    computed = (pad["tokens"] + pad["unsorted"]) / (pad["tokens"] + pad["sorted"])
    return (
        f"headline 7B: padding {pad['unsorted'] / pad['sorted']:.1f}x less (tokens computed "
        f"{computed:.2f}x fewer), gradient bytes {before / after:.0f}x less "
        f"({before / 1e9:.1f} -> {after / 1e9:.1f} GB/step/worker)"
    )
