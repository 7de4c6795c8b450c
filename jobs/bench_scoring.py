"""Benchmark of student scoring: the batched scorer vs the per-sample loop, and forward tokens per sample.

    python jobs/bench_scoring.py                      # CPU: offline 4-layer, 256-wide, 32k-vocab Llama
    python jobs/bench_scoring.py --model PATH --peak-tflops 989   # GPU: a real model, MFU printed

1. Speed, same model, data and machine: all four losses of DESIGN §1 for N real Alpaca rows,
   (a) the authors' way: one sequence per forward, logits for every position, and (b) the
   batched scorer (recycle.student.score_columns). Runs alternate and the best of each is kept,
   so a busy machine penalises both alike. Both give the same losses (max difference printed).
2. Forward tokens per sample of the pipeline's two phases vs the authors' scripts, which score
   4 variants x 4 sequences. Reflected texts are simulated deterministically (a longer instruction,
   responses ~1.5x longer), since no teacher runs here.

Last line: `speedup: N.Nx, tokens/sample vs authors: 0.NNx`.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recycle import columns as C  # noqa: E402
from recycle.config.student import StudentConfig  # noqa: E402
from recycle.student.model import load_student  # noqa: E402
from recycle.student.planning import plan_pairs  # noqa: E402
from recycle.student.scoring import score_columns  # noqa: E402
from recycle.student.variants import Variant  # noqa: E402
from tests.support import tiny_model  # noqa: E402

FOUR_LOSSES = [Variant(ifd=True, rifd=True)]
SPEED_CHUNK = 8  # rows per interleaved timing chunk


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--model", help="student folder; default: build the offline 4x256, 32k-vocab Llama"
    )
    p.add_argument(
        "--workdir", default="/tmp/recycle_bench", help="where the offline model is built"
    )
    p.add_argument("--samples", type=int, default=48, help="Alpaca rows in the speed test")
    p.add_argument(
        "--token-samples", type=int, default=200, help="Alpaca rows in the token accounting"
    )
    p.add_argument("--max-length", type=int, default=2048)
    p.add_argument("--batch-tokens", type=int, default=8192)
    p.add_argument("--repeats", type=int, default=2, help="timed runs of each method (best kept)")
    p.add_argument("--peak-tflops", type=float, default=None, help="accelerator peak, for MFU")
    return p.parse_args()


def offline_model(workdir: Path) -> Path:
    """The issue's reference CPU model: Llama, 4 layers, 256 wide, 32k BPE on Alpaca text."""
    workdir.mkdir(parents=True, exist_ok=True)
    tok = tiny_model.build_tokenizer(workdir, vocab_size=32000)
    return tiny_model.build_model(workdir, tok, layers=4, hidden=256, heads=4)


def columns(rows: list[dict[str, str]]) -> dict[str, list[str]]:
    return {k: [r[k] for r in rows] for k in (C.INSTRUCTION, C.INPUT, C.OUTPUT)}


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
    out, stats = score_columns(model, tokenizer, cols, FOUR_LOSSES, cfg)
    order = [(C.LOSS_Y_GIVEN_X, C.LOSS_Y), (C.LOSS_X_GIVEN_Y, C.LOSS_X)]
    losses = [out[c][r] for r in range(len(cols[C.OUTPUT])) for pair in order for c in pair]
    return [v for v in losses if not math.isnan(v)], stats.tokens, stats.projected


def timed(fn, *args) -> tuple[float, float, tuple]:
    """(wall seconds, process CPU seconds, what fn returned)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
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


def speed(model, tokenizer, cfg: StudentConfig, n: int, repeats: int, peak: float | None) -> float:
    """Both methods on the same rows, interleaved chunk by chunk so a busy machine slows both alike."""
    methods = {"per-sample loop": per_sample_loop, "batched scorer": batched}
    for fn in methods.values():
        fn(model, tokenizer, columns(tiny_model.alpaca_rows(4)), cfg)  # warm-up
    totals = {name: [0.0, 0.0, 0, 0] for name in methods}  # wall, cpu, tokens, projected
    losses: dict[str, list[float]] = {name: [] for name in methods}
    rows = tiny_model.alpaca_rows(n)
    for rep in range(repeats):
        for k, start in enumerate(range(0, n, SPEED_CHUNK)):
            cols = columns(rows[start : start + SPEED_CHUNK])
            order = list(methods) if (k + rep) % 2 == 0 else list(methods)[::-1]
            for name in order:
                wall, cpu, (got, tokens, projected) = timed(
                    methods[name], model, tokenizer, cols, cfg
                )
                for i, v in enumerate((wall, cpu, tokens, projected)):
                    totals[name][i] += v
                losses[name] += got if rep == 0 else []
    ref, got = losses["per-sample loop"], losses["batched scorer"]
    diff = max(abs(a - b) for a, b in zip(ref, got, strict=True))
    print(
        f"speed: {n} Alpaca rows x 4 losses ({len(ref)} sequences) x {repeats}, max |batched - loop| = {diff:.2e}"
    )
    for name, (wall, cpu, tokens, projected) in totals.items():
        mfu = (
            f", forward MFU {forward_flops(model, tokens, projected) / wall / (peak * 1e12):.1%}"
            if peak
            else ""
        )
        print(
            f"  {name:16s} {wall:7.2f} s wall ({cpu:7.2f} s CPU)  {tokens / wall:8.0f} tokens/s  "
            f"{n * repeats / wall:6.2f} samples/s{mfu}"
        )
    return totals["per-sample loop"][0] / totals["batched scorer"][0]


def longer(text: str) -> str:
    """A simulated reflected response: the text plus half of it again (reflections run ~1.5x longer)."""
    return f"{text}\n\n{text[: len(text) // 2]}" if text else text


def with_reflections(rows: list[dict[str, str]]) -> dict[str, list[str]]:
    """Real rows plus simulated instruction reflections (x_ins, y_ins)."""
    cols = columns(rows)
    cols[C.NEW_INSTRUCTION] = [
        f"{x} Explain your reasoning step by step and give one example."
        for x in cols[C.INSTRUCTION]
    ]
    cols[C.NEW_INPUT] = list(cols[C.INPUT])
    cols[C.NEW_OUTPUT] = [longer(y) for y in cols[C.OUTPUT]]
    return cols


def choose_instruction(cols: dict[str, list], out: dict[str, list]) -> None:
    """Step 2: (x_ins, y_ins) replaces (x0, y0) when its IFD is higher (a NaN never wins)."""
    ins = [a > b for a, b in zip(out[C.INS + C.IFD], out[C.ORIG + C.IFD], strict=True)]
    for chosen, new, old in (
        (C.INSTRUCTION_1, C.NEW_INSTRUCTION, C.INSTRUCTION),
        (C.INPUT_1, C.NEW_INPUT, C.INPUT),
        (C.OUTPUT_1, C.NEW_OUTPUT, C.OUTPUT),
    ):
        cols[chosen] = [n if w else o for w, n, o in zip(ins, cols[new], cols[old], strict=True)]
    cols[C.BETTER_OUTPUT] = [longer(y) for y in cols[C.OUTPUT_1]]


PHASE1 = [
    Variant(prefix=C.ORIG),
    Variant(prefix=C.INS, instruction=C.NEW_INSTRUCTION, input=C.NEW_INPUT, output=C.NEW_OUTPUT),
]
X1 = {"instruction": C.INSTRUCTION_1, "input": C.INPUT_1}
PHASE2 = [
    Variant(prefix=C.PAIR1, output=C.OUTPUT_1, ifd=False, rifd=True, **X1),
    Variant(prefix=C.RES, output=C.BETTER_OUTPUT, rifd=True, ifd_only_if_rifd_below=C.PAIR1, **X1),
]
AUTHORS = [  # 4 variants x (IFD + r-IFD) = 16 sequences, each alone, every position projected
    Variant(prefix="a0_", rifd=True),
    Variant(
        prefix="a1_",
        instruction=C.NEW_INSTRUCTION,
        input=C.NEW_INPUT,
        output=C.NEW_OUTPUT,
        rifd=True,
    ),
    Variant(prefix="a2_", output="res_of_orig", rifd=True),
    Variant(
        prefix="a3_",
        instruction=C.NEW_INSTRUCTION,
        input=C.NEW_INPUT,
        output="res_of_ins",
        rifd=True,
    ),
]


def pipeline_tokens(model, tokenizer, cols, cfg: StudentConfig) -> tuple[int, int]:
    """(forward tokens, projected positions) of phase 1 + phase 2, batch by batch as the actors see them."""
    tokens = projected = 0
    n = len(cols[C.OUTPUT])
    for start in range(0, n, cfg.batch_size):
        part = {k: v[start : start + cfg.batch_size] for k, v in cols.items()}
        out1, s1 = score_columns(model, tokenizer, part, PHASE1, cfg)
        choose_instruction(part, out1)
        _, s2 = score_columns(model, tokenizer, part, PHASE2, cfg)
        tokens += s1.tokens + s2.tokens
        projected += s1.projected + s2.projected
    return tokens, projected


def authors_tokens(tokenizer, cols, cfg: StudentConfig) -> int:
    """Tokens of the authors' 16 sequences per sample (every one forwarded, every position projected)."""
    cols = dict(
        cols,
        res_of_orig=[longer(y) for y in cols[C.OUTPUT]],
        res_of_ins=[longer(y) for y in cols[C.NEW_OUTPUT]],
    )
    jobs = plan_pairs(
        tokenizer, cfg.template, cfg.max_length, cols, AUTHORS, range(len(cols[C.OUTPUT]))
    )
    return sum(len(s.input_ids) for j in jobs for s in (j.cond, j.uncond) if not j.cond.error)


def token_ratio(model, tokenizer, cfg: StudentConfig, n: int) -> float:
    cols = with_reflections(tiny_model.alpaca_rows(n))
    ours, projected = pipeline_tokens(model, tokenizer, cols, cfg)
    theirs = authors_tokens(tokenizer, cols, cfg)
    print(f"tokens: {n} Alpaca rows with simulated reflections, per sample:")
    print(
        f"  authors (16 sequences)   {theirs / n:8.1f} forward tokens, {theirs / n:8.1f} projected on V"
    )
    print(
        f"  pipeline (phase 1 + 2)   {ours / n:8.1f} forward tokens, {projected / n:8.1f} projected on V"
    )
    return ours / theirs


def main() -> None:
    args = parse_args()
    path = args.model or str(offline_model(Path(args.workdir)))
    cfg = StudentConfig(model=path, max_length=args.max_length, batch_tokens=args.batch_tokens)
    model, tokenizer = load_student(cfg)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"model: {path} ({params / 1e6:.1f}M parameters, {model.dtype}, {model.device}, {torch.get_num_threads()} threads)"
    )
    ratio = token_ratio(model, tokenizer, cfg, args.token_samples)
    gain = speed(model, tokenizer, cfg, args.samples, args.repeats, args.peak_tflops)
    print(f"speedup: {gain:.1f}x, tokens/sample vs authors: {ratio:.2f}x")


if __name__ == "__main__":
    main()
