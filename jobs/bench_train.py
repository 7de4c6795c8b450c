"""Benchmark of fine-tuning throughput through the real Ray Train + FSDP2 path.

    python jobs/bench_train.py [--rows 768] [--steps 24] [--workers 2] [--max-length 512] [--savings-only]

1. CPU: tokens/s per worker of the tiny Llama (recycle.testing.tiny_student: 2 layers, 64 wide, 2k
   vocabulary) on real Alpaca rows, `--workers` Ray Train workers over gloo, fp32, no activation
   checkpointing (a memory trade-off the tiny model does not need), without and with packing,
   side by side. Tokens are real (non-padding) tokens; a step's time excludes the metric
   report and checkpoint, and the first two steps are warm-up. The median and the best step
   are shown; the last line uses the best step, the one least disturbed by other load on a
   shared machine.
2. GPU, when CUDA is visible: a 1B-class Llama (TinyLlama-1.1B shape, random init: throughput
   does not depend on the weights) on one GPU, bf16, packing, max length 2048,
   flash-attention when installed: tokens/s and MFU (target >= 45%).

3. What the efficiency settings save (computed, no training): padding tokens per step with
   and without length-sorted micro-batches on the Alpaca rows (the 7B preset's layout), and the
   gradient bytes a worker sends per step with reduction after every micro-batch (fp32), after
   the last only, and in bf16, for the Llama-2-7B/13B presets.

Before the last line: `tokens/s/worker: unpacked X, packed Y, packing speedup: N.Nx`.
Last line: `headline 7B: padding N.Nx less (...), gradient bytes Nx less (...)`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from recycle.bench.train import (
    alpaca_tokenizer_dir,
    cpu_bench,
    cpu_table,
    gpu_line,
    headline,
    padding_line,
    padding_per_step,
    reduce_lines,
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=768, help="Alpaca rows to read")
    parser.add_argument("--steps", type=int, default=24, help="optimizer steps per mode")
    parser.add_argument("--workers", type=int, default=2, help="Ray Train workers on CPU")
    parser.add_argument("--max-length", type=int, default=512, help="longest sample and packed row")
    parser.add_argument("--out", type=Path, default=None, help="working folder (default: temp dir)")
    parser.add_argument(
        "--savings-only", action="store_true", help="only the computed padding and bytes lines"
    )
    args = parser.parse_args()
    # tiny CPU steps take milliseconds: let Ray Train's controller collect reports that fast
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")
    root = args.out or Path(tempfile.mkdtemp(prefix="bench_train_"))
    root.mkdir(parents=True, exist_ok=True)
    tokenizer = alpaca_tokenizer_dir(root)
    pad = padding_per_step(tokenizer)
    print("\n".join([padding_line(pad), *reduce_lines()]), flush=True)
    if not args.savings_only:
        cpu = cpu_bench(args, root, tokenizer)
        print("\n".join([*cpu_table(cpu), gpu_line(root)]))
        unpacked, packed = (cpu[m]["best_tokens_per_s_per_worker"] for m in ("unpacked", "packed"))
        print(
            f"tokens/s/worker: unpacked {unpacked:,.0f}, packed {packed:,.0f}, packing speedup: {packed / unpacked:.1f}x"
        )
    print(headline(pad))
    return 0


if __name__ == "__main__":
    sys.exit(main())
