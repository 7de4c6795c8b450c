"""Benchmark of answer generation: length-sorted, left-padded batches vs one prompt at a time.

    python jobs/bench_generate.py                       # CPU: the offline tiny Llama
    python jobs/bench_generate.py --model PATH          # a real model (GPU when there is one)

Same model, same questions (the first N of each shipped test set), same greedy decoding
(recycle.eval.generate), in one run: generated tokens per second of each way, and whether the
answers are identical. Runs alternate and the best of each is kept, so a busy machine penalises
both alike. Last line: `batched vs one at a time: N.Nx tokens/s`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from recycle.bench.train import alpaca_tokenizer_dir
from recycle.config.student import StudentConfig
from recycle.eval.generate import generate_answers
from recycle.eval.questions import BUILTIN_SETS, load_questions
from recycle.student.model import load_student
from recycle.testing import tiny_student

TEMPLATE = StudentConfig().template  # the template the tiny model would be trained with


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", help="model folder; default: build the offline tiny Llama")
    p.add_argument("--workdir", default="/tmp/recycle_bench_generate")
    p.add_argument("--per-set", type=int, default=8, help="questions from each of the five sets")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2)
    return p.parse_args()


def timed(model, tok, questions, args, batch_size: int) -> tuple[float, list]:
    t0 = time.perf_counter()
    if batch_size == 1:
        answers = [
            generate_answers(model, tok, [q], TEMPLATE, args.max_new_tokens, 1, 4096)[0]
            for q in questions
        ]
    else:
        answers = generate_answers(
            model, tok, questions, TEMPLATE, args.max_new_tokens, batch_size, 4096
        )
    return time.perf_counter() - t0, answers


def main() -> None:
    args = parse_args()
    path = args.model
    if path is None:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
        path = str(tiny_student.build_tiny_model(work, alpaca_tokenizer_dir(work)))
    model, tok = load_student(StudentConfig(model=path))
    rows = load_questions(list(BUILTIN_SETS), args.per_set)
    questions = [(r["instruction"], r["input"]) for r in rows]
    print(f"model {path} on {next(model.parameters()).device}; {len(questions)} questions")
    best = {1: float("inf"), args.batch_size: float("inf")}
    out = {}
    for _ in range(args.repeats):
        for bs in best:
            seconds, out[bs] = timed(model, tok, questions, args, bs)
            best[bs] = min(best[bs], seconds)
    tokens = sum(a.tokens for a in out[1])
    same = sum(a.text == b.text for a, b in zip(out[1], out[args.batch_size], strict=True))
    rate = {bs: tokens / s for bs, s in best.items()}
    print(f"one at a time: {tokens} tokens in {best[1]:.2f}s = {rate[1]:.0f} tokens/s")
    print(
        f"batched ({args.batch_size}, length-sorted): {best[args.batch_size]:.2f}s = "
        f"{rate[args.batch_size]:.0f} tokens/s; identical answers: {same}/{len(questions)}"
    )
    print(f"batched vs one at a time: {rate[args.batch_size] / rate[1]:.1f}x tokens/s")


if __name__ == "__main__":
    main()
