"""The student: token sequences shared with training, target-only losses, IFD and r-IFD scoring.

Modules, from the bottom up:

- `sequences`: [start] + tok(prefix) + tok(target) with the truncation rule (shared with training).
- `losses`: tensor core, mean NLL over target positions only; IFD / r-IFD from two losses.
- `batching`: dedupe, sort by length, pack under `student.batch_tokens`, one forward each.
- `variants`: `Variant`, which (x, y) columns to score and which statistics.
- `planning`, `scoring`: the pure core, rows -> sequence pairs -> score columns (`score_columns`).
- `turn_sequences`, `turns`: conversations, one sequence per conversation (a span per answer,
  shared with training) -> IFD / r-IFD per assistant turn and aggregates (`score_turns`).
- `drift`: the template-drift warning (most IFD values above 1).
- `model`: load the student once; `check_student` fails fast in the driver.
- `scoring_actor`: the thin Ray adapter over `scoring`: `StudentScorer` (Ray Data stage) and
  `score_dataset`.
- `run`, `stats`, `coherence`: what `recycle score` and `recycle stats` run (recycle.commands).

The public names below are imported lazily, so importing `recycle.student.sequences` (training)
does not pull in Ray or pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Variant": "recycle.student.variants",
    "score_columns": "recycle.student.scoring",
    "score_turns": "recycle.student.turns",
    "score_conversation_column": "recycle.student.turns",
    "StudentScorer": "recycle.student.scoring_actor",
    "score_dataset": "recycle.student.scoring_actor",
    "load_student": "recycle.student.model",
    "check_student": "recycle.student.model",
    "CoherenceScorer": "recycle.student.coherence",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recycle.student' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
