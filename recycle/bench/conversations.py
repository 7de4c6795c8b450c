"""Per-turn scoring of conversations: one forward per conversation against scoring turn by turn.

Three ways to get the four losses of every assistant turn (student/turns.py), same model, data
and machine, timed in alternating chunks so that a busy machine slows them alike:

- one-pass: `score_turns`, every conditional loss of a conversation from one sequence (a span per
  answer), the short unconditional and r-IFD sequences batched;
- per-turn batched: each turn its own sequence (history as context), through the same batched
  scorer (`score_sequences`): the turns as separate rows;
- per-turn loop: each sequence alone, logits for every position (the authors' loop, which
  Cherry_LLM issue 21 ran on multi-turn data).

All three must agree (the max difference is reported).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from recycle.bench.scoring import timed
from recycle.config.student import StudentConfig
from recycle.data.conversation import Conversation
from recycle.student.batching import score_sequences
from recycle.student.model import resolve_batch_tokens
from recycle.student.sequences import TokenSequence, pad_token_id
from recycle.student.turns import plan_turns, score_turns

ONE_PASS, PER_TURN_BATCHED, PER_TURN_LOOP = "one-pass", "per-turn batched", "per-turn loop"
CHUNK = 4  # conversations per interleaved timing chunk
ORDER = ("cond", "uncond", "rcond", "runcond")


@dataclass
class Totals:
    """Accumulated cost of one method."""

    wall: float = 0.0
    turns: int = 0
    losses: list[float] = field(default_factory=list)


def conversations_of(rows: list[dict[str, str]], turns: int, system: str) -> list[Conversation]:
    """Consecutive rows without an input grouped `turns` at a time into conversations."""
    rows = [r for r in rows if not r.get("input")]
    return [
        Conversation(
            system,
            tuple(r["instruction"] for r in rows[i : i + turns]),
            tuple(r["output"] for r in rows[i : i + turns]),
        )
        for i in range(0, len(rows) - turns + 1, turns)
    ]


def _turn_sequences(tokenizer, convs, cfg) -> list[TokenSequence]:
    """Every sequence of every turn, in (conversation, turn, ORDER) order."""
    out = []
    for plan in plan_turns(tokenizer, cfg.template, cfg.max_length, convs):
        for t, uncond in enumerate(plan.uncond):
            out += [plan.conversation.turn(t), uncond, *plan.rifd[t]]
    return out


def one_pass(model, tokenizer, convs, cfg: StudentConfig) -> list[float]:
    rows, _ = score_turns(model, tokenizer, convs, cfg)
    keys = ("turns_loss_y_given_x", "turns_loss_y", "turns_loss_x_given_y", "turns_loss_x")
    return [r[k][t] for r in rows for t in range(r["n_turns"]) for k in keys]


def per_turn_batched(model, tokenizer, convs, cfg: StudentConfig) -> list[float]:
    seqs = _turn_sequences(tokenizer, convs, cfg)
    live = [s for s in seqs if not s.error]
    losses, _ = score_sequences(
        model,
        live,
        pad_token_id(tokenizer),
        resolve_batch_tokens(cfg, model.device.type),
        cfg.logit_chunk_tokens,
    )
    it = iter(losses)
    return [math.nan if s.error else next(it) for s in seqs]


@torch.inference_mode()
def per_turn_loop(model, tokenizer, convs, cfg: StudentConfig) -> list[float]:
    out = []
    for seq in _turn_sequences(tokenizer, convs, cfg):
        if seq.error:
            out.append(math.nan)
            continue
        ids = torch.tensor([seq.input_ids], device=model.device)  # (1, T)
        logp = model(input_ids=ids).logits[0].float().log_softmax(-1)  # (T, V)
        t = seq.target_start
        out.append(-logp[t - 1 : -1].gather(1, ids[0, t:, None]).mean().item())
    return out


def compare(model, tokenizer, cfg, convs, repeats: int) -> dict[str, Totals]:
    """The three methods over `convs`, `repeats` times, interleaved chunk by chunk."""
    methods = {ONE_PASS: one_pass, PER_TURN_BATCHED: per_turn_batched, PER_TURN_LOOP: per_turn_loop}
    for fn in methods.values():
        fn(model, tokenizer, convs[:1], cfg)  # warm-up
    totals = {name: Totals() for name in methods}
    for rep in range(repeats):
        for k, start in enumerate(range(0, len(convs), CHUNK)):
            chunk = convs[start : start + CHUNK]
            names = list(methods)
            names = names[k + rep :] + names[: k + rep] if (k + rep) % 3 else names
            for name in names:
                wall, _, got = timed(methods[name], model, tokenizer, chunk, cfg)
                t = totals[name]
                t.wall += wall
                t.turns += sum(c.n_turns for c in chunk)
                t.losses += got if rep == 0 else []
    return totals


def report(totals: dict[str, Totals], n_convs: int, turns: int) -> tuple[list[str], float]:
    """Printable lines and the speed ratio one-pass / per-turn loop (turns per second)."""
    ref = totals[PER_TURN_LOOP].losses
    lines = [f"conversations: {n_convs} x {turns} turns x 4 losses ({len(ref)} losses)"]
    for name, t in totals.items():
        diff = max(
            (abs(a - b) for a, b in zip(t.losses, ref, strict=True) if not math.isnan(a)),
            default=math.nan,
        )
        lines.append(
            f"  {name:17s} {t.wall:7.2f} s  {t.turns / t.wall:7.2f} turns/s  "
            f"max |loss - loop| = {diff:.2e}"
        )
    speed = {name: t.turns / t.wall for name, t in totals.items()}
    return lines, speed[ONE_PASS] / speed[PER_TURN_LOOP]
