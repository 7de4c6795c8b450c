"""Tiny students for the tests, trained on the shared Alpaca data.

The builders live in the library (recycle.testing.tiny_student, also used by `recycle demo`); this
module feeds them the real Alpaca rows of ../shared/data. Every builder is idempotent: it writes
into `root/<name>` and returns that folder at once when it exists (see tests/support/fixtures.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from recycle.testing import tiny_student
from recycle.testing.tiny_student import (
    BOS,
    EOS,
    PAD,
    UNK,
    build_tiny_model,
    train_model,
    training_sequences,
)

REPO = Path(__file__).resolve().parents[2]
ALPACA = REPO.parent / "shared" / "data" / "alpaca_cherry_5_percent.json"

__all__ = [
    "ALPACA",
    "BOS",
    "EOS",
    "PAD",
    "UNK",
    "alpaca_rows",
    "build_tiny_model",
    "build_tokenizer",
    "train_model",
    "training_sequences",
]


def alpaca_rows(limit: int | None = None) -> list[dict[str, str]]:
    """Real Alpaca rows (instruction, input, output) from ../shared/data."""
    rows = json.loads(ALPACA.read_text())
    return rows[:limit] if limit else rows


def _alpaca_texts() -> Iterable[str]:
    for row in alpaca_rows():
        yield from (row["instruction"], row["input"], row["output"])


def build_tokenizer(
    root: Path, vocab_size: int = 2000, bos: bool = True, pad: bool = True, name: str | None = None
) -> Path:
    """A byte-level BPE trained on the Alpaca text (see recycle.testing.tiny_student.build_tokenizer)."""
    return tiny_student.build_tokenizer(root, _alpaca_texts(), vocab_size, bos, pad, name)
