"""Score many sequences with as little forward work as possible.

Identical sequences are computed once, the unique ones are sorted by length (longest first, so
an out-of-memory shows on the first micro-batch) and packed greedily into micro-batches whose
padded size (rows x longest row) stays under a token budget; each micro-batch is one forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recycle.student.losses import mean_target_nll
from recycle.student.sequences import TokenSequence


@dataclass
class ForwardStats:
    """What the student spent: forwards, tokens through the model, positions projected on V."""

    requested: int = 0  # sequences asked for, duplicates included
    unique: int = 0  # sequences actually computed
    forwards: int = 0  # micro-batches, one forward each
    tokens: int = 0  # real (non-pad) tokens through the model
    padded_tokens: int = 0  # rows x width summed over micro-batches (what the GPU computes)
    projected: int = 0  # positions projected onto the vocabulary (target positions only)

    def add(self, other: ForwardStats) -> None:
        """Accumulate another batch's numbers into this one."""
        for name in ("requested", "unique", "forwards", "tokens", "padded_tokens", "projected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def dedupe(seqs: Sequence[TokenSequence]) -> tuple[list[TokenSequence], list[int]]:
    """Unique sequences, and for each input sequence the index of its unique copy."""
    index: dict[tuple[tuple[int, ...], int], int] = {}
    unique: list[TokenSequence] = []
    where = []
    for s in seqs:
        key = (s.input_ids, s.target_start)
        if key not in index:
            index[key] = len(unique)
            unique.append(s)
        where.append(index[key])
    return unique, where


def pack(lengths: Sequence[int], batch_tokens: int, max_rows: int | None = None) -> list[list[int]]:
    """Indices grouped into micro-batches, longest first, each with rows x longest <= batch_tokens.

    A sequence longer than the budget gets a micro-batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        current = batches[-1] if batches else None
        fits = current is not None and (len(current) + 1) * lengths[current[0]] <= batch_tokens
        if fits and (max_rows is None or len(current) < max_rows):
            current.append(i)
        else:
            batches.append([i])
    return batches


def score_sequences(
    model: Any,
    seqs: Sequence[TokenSequence],
    pad_id: int,
    batch_tokens: int,
    chunk: int = 4096,
) -> tuple[list[float], ForwardStats]:
    """Mean target NLL of every sequence (all must have a target token), each unique one computed once.

    Returns:
        one loss per input sequence, in input order, and what the forwards cost.
    """
    unique, where = dedupe(seqs)
    lengths = [len(s.input_ids) for s in unique]
    losses = [float("nan")] * len(unique)
    stats = ForwardStats(requested=len(seqs), unique=len(unique))
    for batch in pack(lengths, batch_tokens):
        nll = mean_target_nll(model, [unique[i] for i in batch], pad_id, chunk)  # (b,)
        for i, value in zip(batch, nll.tolist(), strict=True):
            losses[i] = value
        stats.forwards += 1
        stats.tokens += sum(lengths[i] for i in batch)
        stats.padded_tokens += len(batch) * lengths[batch[0]]
        stats.projected += sum(unique[i].n_target for i in batch)
    return [losses[j] for j in where], stats
