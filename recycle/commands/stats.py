"""`recycle stats`: the papers' Table 6 row of a dataset under a student (no run directory).

It writes no manifest: the row is printed, and written as JSON where `output` is given.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from recycle.commands.runner import start
from recycle.config import RecycleConfig
from recycle.student.coherence import load_embedder
from recycle.student.model import check_student
from recycle.student.stats import dataset_stats

log = logging.getLogger(__name__)


def check(cfg: RecycleConfig) -> None:
    """The student and the Sentence-BERT model load: fail before scoring, not after."""
    check_student(cfg.student)
    load_embedder(cfg.student.coherence_model)


def run_stats(cfg: RecycleConfig, output: str | None = None) -> dict[str, Any]:
    """Table 6 row of `cfg.data.input` under `cfg.student`; written as JSON to `output` when given.

    Raises:
        ConfigError: the student or the Sentence-BERT model cannot be loaded.
        InputError: the input is empty.
    """
    start(cfg, check)
    result = dataset_stats(cfg)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(result, indent=2))
        log.info("stats: %s", output)
    return result
