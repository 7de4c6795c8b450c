"""Turn rows and variants into the (conditional, unconditional) sequence pairs to score.

For each row and variant (IFD and r-IFD, README, How it works):

    ifd:  T(x) -> y          and  [start] -> y          (loss_y_given_x, loss_y)
    rifd: T(reverse_query(y)) -> x  and  [start] -> x   (loss_x_given_y, loss_x)

T(x) uses the template's with-input form for a sample with an input; x as r-IFD's target joins
instruction and input as the template says (recycle.student.sequences.rifd_target).

Every distinct text is tokenized once, in one batched tokenizer call.

A turn row of a conversation (columns.TURN_HISTORY set, pipeline/turns.py) scores its IFD pair
with its history before it: the conditional sequence is turn t of the conversation (system +
ORIGINAL earlier turns + this row's pair) in the template's multi-turn form, exactly the span
student/turns.py scores for that turn (student/turn_sequences.py builds both); the unconditional
one is the same (possibly cut) answer alone. r-IFD keeps the authors' reverse query, no history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recycle import columns as C
from recycle.data.conversation import Conversation, with_turn
from recycle.data.normalize import query_text
from recycle.student.sequences import (
    TokenSequence,
    pair_from_ids,
    prompt_prefix,
    reverse_query,
    rifd_target,
    start_token_id,
    tokenize,
    unconditional,
)
from recycle.student.turn_sequences import conversation_pieces, scoring_sequence
from recycle.student.variants import Variant

IFD_KIND, RIFD_KIND = "ifd", "rifd"
MISSING_TEXT = "missing_text"


@dataclass(frozen=True)
class PairJob:
    """One loss pair of one row and variant: the sequences whose losses give IFD or r-IFD."""

    row: int  # position of the row in the batch
    variant: int  # index into the variants
    kind: str  # IFD_KIND or RIFD_KIND
    cond: TokenSequence
    uncond: TokenSequence


@dataclass(frozen=True)
class _Texts:
    row: int
    variant: int
    kind: str
    prefix: str
    target: str
    error: str
    conversation: Conversation | None = None  # a turn row's IFD pair: history + (x, y)


def cell_text(columns: Mapping[str, Sequence[Any]], name: str | None, row: int) -> str:
    """The string in a cell; None, NaN or a missing column reads as ""."""
    if name is None or name not in columns:
        return ""
    value = columns[name][row]
    return value if isinstance(value, str) else ""


def _row_texts(
    columns: Mapping[str, Sequence[Any]],
    v: Variant,
    vi: int,
    row: int,
    template: str,
    tokenizer: Any,
) -> list[_Texts]:
    instruction, input_ = cell_text(columns, v.instruction, row), cell_text(columns, v.input, row)
    y = cell_text(columns, v.output, row)
    empty = [c for c, t in ((v.instruction, instruction), (v.output, y)) if not t.strip()]
    error = f"{MISSING_TEXT}: column {empty[0]!r} is empty" if empty else ""
    out = []
    history = cell_text(columns, C.TURN_HISTORY, row)
    if v.ifd and history and not error:
        conv = with_turn(history, query_text(instruction, input_), y)
        out.append(_Texts(row, vi, IFD_KIND, "", "", error, conv))
    elif v.ifd:
        prefix = "" if error else prompt_prefix(template, instruction, tokenizer, input_)
        out.append(_Texts(row, vi, IFD_KIND, prefix, y, error))
    if v.rifd:
        prefix = "" if error else prompt_prefix(template, reverse_query(y), tokenizer)
        x = rifd_target(template, instruction, input_)
        out.append(_Texts(row, vi, RIFD_KIND, prefix, x, error))
    return out


def plan_pairs(
    tokenizer: Any,
    template: str,
    max_length: int,
    columns: Mapping[str, Sequence[Any]],
    variants: Sequence[Variant],
    rows: Sequence[int],
) -> list[PairJob]:
    """The sequence pairs of the given rows for every variant, in (row, variant, kind) order.

    A pair that cannot be scored (missing text, empty target, no room for a target token)
    carries the reason in its sequences' `error`; nothing here raises on bad data.
    """
    texts = [
        t
        for r in rows
        for vi, v in enumerate(variants)
        for t in _row_texts(columns, v, vi, r, template, tokenizer)
    ]
    plain = [t for t in texts if not t.error and t.conversation is None]
    distinct = list(dict.fromkeys(s for t in plain for s in (t.prefix, t.target)))
    ids = dict(zip(distinct, tokenize(tokenizer, distinct), strict=True))
    turns = _turn_sequences(tokenizer, template, max_length, texts)
    start = start_token_id(tokenizer)
    jobs = []
    for t in texts:
        if t.error:
            failed = TokenSequence((start,), 1, False, t.error)
            jobs.append(PairJob(t.row, t.variant, t.kind, failed, failed))
            continue
        if t.conversation is not None:
            cond = turns[id(t)]
            jobs.append(PairJob(t.row, t.variant, t.kind, cond, unconditional(cond, start)))
            continue
        cond, uncond = pair_from_ids(start, ids[t.prefix], ids[t.target], max_length)
        jobs.append(PairJob(t.row, t.variant, t.kind, cond, uncond))
    return jobs


def _turn_sequences(
    tokenizer: Any, template: str, max_length: int, texts: Sequence[_Texts]
) -> dict[int, TokenSequence]:
    """The conditional sequence of each turn row's IFD pair (by id of its texts): the last turn
    of its conversation, cut as student/turns.py cuts it."""
    turned = [t for t in texts if t.conversation is not None and not t.error]
    if not turned:
        return {}
    pieces = conversation_pieces(tokenizer, template, [t.conversation for t in turned])
    return {
        id(t): scoring_sequence(p, max_length).turn(t.conversation.n_turns - 1)
        for t, p in zip(turned, pieces, strict=True)
    }
