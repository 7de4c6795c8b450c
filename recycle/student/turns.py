"""IFD and r-IFD per assistant turn of a conversation (DESIGN, Conversations). Pure core.

For assistant turn t of (s, u_1, a_1, ..., u_n, a_n), with the student template's multi-turn form
(student/turn_sequences.py):

    loss_y_given_x(t): a_t given s, u_1, a_1, ..., u_t       -> one span of the conversation sequence
    loss_y(t):         [start] + a_t (the same, possibly cut, tokens)
    loss_x_given_y(t): T(reverse_query(a_t)) -> u_t           (the authors' reverse query)
    loss_x(t):         [start] + u_t
    IFD_t = exp(loss_y_given_x(t) - loss_y(t)),  r-IFD_t = exp(loss_x_given_y(t) - loss_x(t))

Every conditional loss of a conversation comes from ONE forward of its whole sequence (one span
per answer), conversations batched under the token budget; the short unconditional and r-IFD
sequences of every turn go through the single-turn path (deduplicated, packed). A conversation
gets per-turn list columns and aggregates over its scored turns: the token-weighted mean (weights:
the answer's tokens for IFD, the user turn's for r-IFD) and the max. A turn that cannot be scored
has NaN and a reason in `turns_score_error`; the others keep their scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recycle import columns as C
from recycle.config.student import StudentConfig
from recycle.data.conversation import Conversation, parse
from recycle.student.batching import ForwardStats, pack, score_sequences
from recycle.student.losses import ratio_score, span_mean_nll
from recycle.student.model import resolve_batch_tokens
from recycle.student.sequences import (
    TokenSequence,
    pad_token_id,
    pair_from_ids,
    prompt_prefix,
    reverse_query,
    rifd_target,
    tokenize,
    unconditional,
)
from recycle.student.turn_sequences import (
    ConversationSequence,
    conversation_pieces,
    scoring_sequence,
)

LIST_COLUMNS = (
    C.TURNS_LOSS_Y_GIVEN_X, C.TURNS_LOSS_Y, C.TURNS_IFD, C.TURNS_Y_TOKENS,
    C.TURNS_LOSS_X_GIVEN_Y, C.TURNS_LOSS_X, C.TURNS_RIFD, C.TURNS_X_TOKENS,
    C.TURNS_TRUNCATED, C.TURNS_SCORE_ERROR,
)  # fmt: skip
AGGREGATE_COLUMNS = (C.IFD_MEAN, C.IFD_MAX, C.RIFD_MEAN, C.RIFD_MAX, C.N_TURNS)
WRITES = LIST_COLUMNS + AGGREGATE_COLUMNS


@dataclass(frozen=True)
class TurnPlan:
    """Every sequence one conversation needs: the conversation and, per turn, the short pairs."""

    conversation: ConversationSequence
    uncond: tuple[TokenSequence, ...]  # [start] + a_t (cut as in the conversation)
    rifd: tuple[
        tuple[TokenSequence, TokenSequence], ...
    ]  # (T(reverse_query(a_t)) -> u_t, [start] -> u_t)


def plan_turns(
    tokenizer: Any, template: str, max_length: int, convs: Sequence[Conversation]
) -> list[TurnPlan]:
    """The sequences of every turn of every conversation (texts tokenized in batched calls)."""
    pieces = conversation_pieces(tokenizer, template, convs)
    queries = [
        prompt_prefix(template, reverse_query(a), tokenizer) for c in convs for a in c.answers
    ]
    users = [rifd_target(template, u) for c in convs for u in c.users]
    distinct = list(dict.fromkeys(queries + users))
    ids = dict(zip(distinct, tokenize(tokenizer, distinct), strict=True))
    plans, k = [], 0
    for p, conv in zip(pieces, convs, strict=True):
        seq = scoring_sequence(p, max_length)
        uncond, rifd = [], []
        for t in range(conv.n_turns):
            uncond.append(unconditional(seq.turn(t), p.start))
            rifd.append(pair_from_ids(p.start, ids[queries[k + t]], ids[users[k + t]], max_length))
        k += conv.n_turns
        plans.append(TurnPlan(seq, tuple(uncond), tuple(rifd)))
    return plans


def conversation_losses(
    model: Any,
    seqs: Sequence[ConversationSequence],
    pad_id: int,
    batch_tokens: int,
    chunk: int = 4096,
) -> tuple[list[list[float]], ForwardStats]:
    """Mean NLL of every answer span of every conversation, one forward per packed micro-batch.

    Returns:
        per conversation, one loss per turn (NaN where the turn has an error), and the cost.
    """
    live = [i for i, s in enumerate(seqs) if any(not e for e in s.errors)]
    out = [[math.nan] * len(s.spans) for s in seqs]
    stats = ForwardStats(requested=len(live), unique=len(live))
    lengths = [len(seqs[i].input_ids) for i in live]
    for batch in pack(lengths, batch_tokens):
        members = [seqs[live[j]] for j in batch]
        scored = [[t for t, e in enumerate(s.errors) if not e] for s in members]
        nll = span_mean_nll(
            model,
            [TokenSequence(s.input_ids, 1) for s in members],
            [[s.spans[t] for t in ts] for s, ts in zip(members, scored, strict=True)],
            pad_id,
            chunk,
        ).tolist()
        it = iter(nll)
        for j, ts in zip(batch, scored, strict=True):
            for t in ts:
                out[live[j]][t] = next(it)
        stats.forwards += 1
        stats.tokens += sum(lengths[j] for j in batch)
        stats.padded_tokens += len(batch) * lengths[batch[0]]
        stats.projected += sum(e - b for s in members for b, e in s.spans)
    return out, stats


def _short_losses(
    model: Any, plans: Sequence[TurnPlan], pad_id: int, batch_tokens: int, chunk: int
) -> tuple[dict[int, float], ForwardStats]:
    """Losses of every scoreable short sequence (loss_y, loss_x_given_y, loss_x), by id()."""
    seqs = [s for p in plans for s in p.uncond if not s.error]
    seqs += [s for p in plans for pair in p.rifd if not pair[0].error for s in pair]
    if not seqs:
        return {}, ForwardStats()
    losses, stats = score_sequences(model, seqs, pad_id, batch_tokens, chunk)
    return {id(s): v for s, v in zip(seqs, losses, strict=True)}, stats


def _turn_row(plan: TurnPlan, cond: list[float], short: dict[int, float]) -> dict[str, list[Any]]:
    """The per-turn lists of one conversation."""
    row: dict[str, list[Any]] = {c: [] for c in LIST_COLUMNS}
    seq = plan.conversation
    for t, (uncond, (rcond, runcond)) in enumerate(zip(plan.uncond, plan.rifd, strict=True)):
        errors = []
        ly_x, ly, ifd = math.nan, math.nan, math.nan
        if seq.errors[t]:
            errors.append(f"ifd: {seq.errors[t]}")
        else:
            ly_x, ly = cond[t], short[id(uncond)]
            ifd, why = ratio_score(ly_x, ly)
            errors += [f"ifd: {why}"] if why else []
        lx_y, lx, rifd = math.nan, math.nan, math.nan
        if rcond.error:
            errors.append(f"rifd: {rcond.error}")
        else:
            lx_y, lx = short[id(rcond)], short[id(runcond)]
            rifd, why = ratio_score(lx_y, lx)
            errors += [f"rifd: {why}"] if why else []
        values = (
            ly_x, ly, ifd, 0 if seq.errors[t] else uncond.n_target,
            lx_y, lx, rifd, 0 if rcond.error else rcond.n_target,
            seq.truncated[t] or rcond.truncated,
            "; ".join(errors),
        )  # fmt: skip
        for col, value in zip(LIST_COLUMNS, values, strict=True):
            row[col].append(value)
    return row


def weighted_mean_and_max(scores: Sequence[float], weights: Sequence[int]) -> tuple[float, float]:
    """Token-weighted mean and max of the finite scores; (NaN, NaN) when there is none."""
    pairs = [(s, w) for s, w in zip(scores, weights, strict=True) if math.isfinite(s) and w > 0]
    if not pairs:
        return math.nan, math.nan
    total = sum(w for _, w in pairs)
    return sum(s * w for s, w in pairs) / total, max(s for s, _ in pairs)


def aggregate(row: dict[str, list[Any]]) -> dict[str, Any]:
    """The aggregate columns of one conversation's per-turn lists."""
    ifd_mean, ifd_max = weighted_mean_and_max(row[C.TURNS_IFD], row[C.TURNS_Y_TOKENS])
    rifd_mean, rifd_max = weighted_mean_and_max(row[C.TURNS_RIFD], row[C.TURNS_X_TOKENS])
    return {
        C.IFD_MEAN: ifd_mean,
        C.IFD_MAX: ifd_max,
        C.RIFD_MEAN: rifd_mean,
        C.RIFD_MAX: rifd_max,
        C.N_TURNS: len(row[C.TURNS_IFD]),
    }


def score_turns(
    model: Any, tokenizer: Any, convs: Sequence[Conversation], cfg: StudentConfig
) -> tuple[list[dict[str, Any]], ForwardStats]:
    """Per-turn losses, IFD / r-IFD, token counts, errors and aggregates of each conversation.

    Args:
        model: the loaded student (eval mode).
        tokenizer: its tokenizer.
        convs: the conversations (data/conversation.py).
        cfg: template, max_length, batch_tokens and logit_chunk_tokens are used.

    Returns:
        one dict per conversation with the WRITES columns, and the forward cost.
    """
    plans = plan_turns(tokenizer, cfg.template, cfg.max_length, convs)
    pad = pad_token_id(tokenizer)
    budget = resolve_batch_tokens(cfg, model.device.type)
    cond, stats = conversation_losses(
        model, [p.conversation for p in plans], pad, budget, cfg.logit_chunk_tokens
    )
    short, more = _short_losses(model, plans, pad, budget, cfg.logit_chunk_tokens)
    stats.add(more)
    rows = []
    for plan, losses in zip(plans, cond, strict=True):
        row = _turn_row(plan, losses, short)
        rows.append(row | aggregate(row))
    return rows, stats


def score_conversation_column(
    model: Any,
    tokenizer: Any,
    messages: Sequence[str | None],
    cfg: StudentConfig,
    prefix: str = "",
) -> tuple[dict[str, list[Any]], ForwardStats]:
    """`score_turns` over a `messages` column: a single-turn row (null) gets null lists, NaN
    aggregates and 0 turns. Output columns are named `prefix` + the WRITES names."""
    where = [i for i, m in enumerate(messages) if m]
    rows, stats = score_turns(model, tokenizer, [parse(messages[i]) for i in where], cfg)
    blank = dict.fromkeys(LIST_COLUMNS) | dict.fromkeys(AGGREGATE_COLUMNS[:-1], math.nan)
    out = [blank | {C.N_TURNS: 0} for _ in messages]
    for i, row in zip(where, rows, strict=True):
        out[i] = row
    return {f"{prefix}{c}": [r[c] for r in out] for c in WRITES}, stats
