"""Benchmark of per-turn scoring of conversations: one forward per conversation vs turn by turn.

    python jobs/bench_conversations.py              # CPU: the offline 4-layer, 256-wide, 32k-vocab Llama
    python jobs/bench_conversations.py --model PATH # a real model

4-turn conversations made of real Alpaca rows (with a system prompt), all four losses of every
assistant turn (recycle.student.turns), three ways (recycle.bench.conversations): one pass per
conversation, each turn as its own sequence through the batched scorer, and the per-turn loop.

Last line: `turns/s one-pass vs per-turn loop: N.Nx (vs per-turn batched: N.Nx)`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from recycle.bench import conversations
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
    p.add_argument("--conversations", type=int, default=8)
    p.add_argument("--turns", type=int, default=4)
    p.add_argument("--template", default="vicuna")
    p.add_argument("--max-length", type=int, default=2048)
    p.add_argument("--batch-tokens", type=int, default=None)
    p.add_argument("--repeats", type=int, default=2)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    rows = alpaca_rows(path=args.data)
    path = args.model or str(tiny_student.reference_cpu_model(Path(args.workdir), rows))
    cfg = StudentConfig(
        model=path,
        template=args.template,
        max_length=args.max_length,
        batch_tokens=args.batch_tokens,
    )
    model, tokenizer = load_student(cfg)
    print(f"model: {path} ({model.dtype}, {model.device}, {torch.get_num_threads()} threads)")
    convs = conversations.conversations_of(rows, args.turns, "You are a helpful assistant.")
    convs = convs[: args.conversations]
    totals = conversations.compare(model, tokenizer, cfg, convs, args.repeats)
    lines, ratio = conversations.report(totals, len(convs), args.turns)
    print("\n".join(lines))
    batched = totals[conversations.PER_TURN_BATCHED]
    one = totals[conversations.ONE_PASS]
    vs_batched = (one.turns / one.wall) / (batched.turns / batched.wall)
    print(
        f"turns/s one-pass vs per-turn loop: {ratio:.1f}x (vs per-turn batched: {vs_batched:.1f}x)"
    )


if __name__ == "__main__":
    main()
