"""Benchmark of student scoring: the batched scorer vs the per-sample loop, and forward tokens per sample.

    python jobs/bench_scoring.py                      # CPU: offline 4-layer, 256-wide, 32k-vocab Llama
    python jobs/bench_scoring.py --model PATH --peak-tflops 989   # GPU: a real model, MFU printed

1. Speed, same model, data and machine (recycle.bench.scoring): all four losses (README, How it works) for
   N real Alpaca rows, the authors' one-sequence-per-forward loop vs the batched scorer.
2. Forward tokens per sample of the pipeline's two phases vs the authors' scripts
   (recycle.bench.tokens), with simulated reflections.

Last line: `speedup: N.Nx, tokens/sample vs authors: 0.NNx`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from recycle.bench import scoring, tokens
from recycle.bench.data import alpaca_rows
from recycle.config.student import StudentConfig
from recycle.student.model import load_student
from recycle.testing import tiny_student


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", help="student folder; default: build the offline 4x256, 32k Llama")
    p.add_argument("--workdir", default="/tmp/recycle_bench", help="where it is built")
    p.add_argument("--data", help="Alpaca JSON; default: the shared 5%% subset or the demo rows")
    p.add_argument("--samples", type=int, default=48, help="Alpaca rows in the speed test")
    p.add_argument("--token-samples", type=int, default=200, help="rows in the token count")
    p.add_argument("--max-length", type=int, default=2048)
    p.add_argument(
        "--batch-tokens",
        type=int,
        default=None,
        help="default: the device's (see student.batch_tokens)",
    )
    p.add_argument("--repeats", type=int, default=2, help="timed runs of each method")
    p.add_argument("--peak-tflops", type=float, default=None, help="accelerator peak, for MFU")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    rows = alpaca_rows(path=args.data)
    path = args.model or str(tiny_student.reference_cpu_model(Path(args.workdir), rows))
    cfg = StudentConfig(model=path, max_length=args.max_length, batch_tokens=args.batch_tokens)
    model, tokenizer = load_student(cfg)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"model: {path} ({params / 1e6:.1f}M parameters, {model.dtype}, {model.device}, "
        f"{torch.get_num_threads()} threads)"
    )
    ratio = tokens.token_ratio(model, tokenizer, cfg, rows[: args.token_samples])
    speed_rows = rows[: args.samples]
    totals = scoring.compare(model, tokenizer, cfg, speed_rows, args.repeats)
    peak = args.peak_tflops * 1e12 if args.peak_tflops else None
    lines, gain, _ = scoring.report(model, totals, len(speed_rows), args.repeats, peak)
    print("\n".join(lines))
    print(f"speedup: {gain:.1f}x, tokens/sample vs authors: {ratio:.2f}x")


if __name__ == "__main__":
    main()
