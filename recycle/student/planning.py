"""Turn rows and variants into the (conditional, unconditional) sequence pairs to score.

For each row and variant (IFD and r-IFD, README, How it works):

    ifd:  T(x) -> y          and  [start] -> y          (loss_y_given_x, loss_y)
    rifd: T(reverse_query(y)) -> x  and  [start] -> x   (loss_x_given_y, loss_x)

T(x) uses the template's with-input form for a sample with an input; x as r-IFD's target joins
instruction and input as the template says (recycle.student.sequences.rifd_target).

Every distinct text is tokenized once, in one batched tokenizer call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recycle.student.sequences import (
    TokenSequence,
    pair_from_ids,
    prompt_prefix,
    reverse_query,
    rifd_target,
    start_token_id,
    tokenize,
)
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
    if v.ifd:
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
    distinct = list(dict.fromkeys(s for t in texts if not t.error for s in (t.prefix, t.target)))
    ids = dict(zip(distinct, tokenize(tokenizer, distinct), strict=True))
    start = start_token_id(tokenizer)
    jobs = []
    for t in texts:
        if t.error:
            failed = TokenSequence((start,), 1, False, t.error)
            jobs.append(PairJob(t.row, t.variant, t.kind, failed, failed))
            continue
        cond, uncond = pair_from_ids(start, ids[t.prefix], ids[t.target], max_length)
        jobs.append(PairJob(t.row, t.variant, t.kind, cond, uncond))
    return jobs
