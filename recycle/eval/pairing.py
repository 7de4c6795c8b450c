"""Pair two models' answers by (dataset, instruction): every question answered by both, or an error.

A set may hold the same instruction twice (Self-Instruct and WizardLM do, with different inputs or
none): the n-th occurrence in A pairs with the n-th in B, both files being in their set's order.
Nothing is dropped silently: a question only one side answered stops the run, naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recycle.errors import InputError
from recycle.eval import columns as E

Key = tuple[str, str, int]
MAX_SHOWN = 3


def keyed(rows: Sequence[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Answers by (dataset, instruction, occurrence), in file order."""
    seen: dict[tuple[str, str], int] = {}
    out: dict[Key, dict[str, Any]] = {}
    for row in rows:
        base = (row[E.DATASET], row[E.INSTRUCTION])
        n = seen.get(base, 0)
        seen[base] = n + 1
        out[(*base, n)] = row
    return out


def pair_answers(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per question both answered: dataset, instruction, input, occurrence, both answers.

    Raises:
        InputError: a question answered by one side only, or the two sides disagree on its input.
    """
    ka, kb = keyed(a), keyed(b)
    only_a = [k for k in ka if k not in kb]
    only_b = [k for k in kb if k not in ka]
    if only_a or only_b:
        raise InputError(_mismatch(only_a, only_b))
    pairs, conflicts = [], []
    for key, ra in ka.items():
        rb = kb[key]
        input_a, input_b = ra.get(E.INPUT) or "", rb.get(E.INPUT) or ""
        if input_a and input_b and input_a != input_b:
            conflicts.append(key)
        pairs.append(
            {
                E.DATASET: key[0],
                E.INSTRUCTION: key[1],
                E.INPUT: input_a or input_b,
                E.OCCURRENCE: key[2],
                E.ANSWER_A: ra[E.OUTPUT],
                E.ANSWER_B: rb[E.OUTPUT],
            }
        )
    if conflicts:
        raise InputError(
            f"{len(conflicts)} question(s) have a different input in A and B, e.g. {_show(conflicts)}"
        )
    return pairs


def _show(keys: Sequence[Key]) -> str:
    return ", ".join(f"{d}: {i[:60]!r} (#{n + 1})" for d, i, n in keys[:MAX_SHOWN])


def _mismatch(only_a: Sequence[Key], only_b: Sequence[Key]) -> str:
    parts = []
    if only_a:
        parts.append(
            f"{len(only_a)} question(s) answered by A have no answer in B: {_show(only_a)}"
        )
    if only_b:
        parts.append(
            f"{len(only_b)} question(s) answered by B have no answer in A: {_show(only_b)}"
        )
    return (
        "the answer files do not match up by (dataset, instruction); "
        + "; ".join(parts)
        + ". Generate both on the same sets (eval.sets, eval.limit_per_set)"
    )
