"""`recycle stats`: the papers' Table 6 row of a dataset under a student (no run directory).

The row is printed, and written as JSON where `output` is given, with a manifest beside it
(`NAME.manifest.json`: input rows = scored + dropped + rejected, checked as every manifest is).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from recycle.commands.runner import check_invariants, start
from recycle.config import RecycleConfig, redacted
from recycle.rundir import build_manifest
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
        InputError: the input is empty, or its rows do not add up (scored + dropped + rejected).
    """
    start(cfg, check)
    result = dataset_stats(cfg)
    if output:
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))
        uri = write_stats_manifest(cfg, result, path)
        log.info("stats: %s (manifest %s)", output, uri)
    return result


def stats_manifest(cfg: RecycleConfig, result: dict[str, Any], output: str) -> dict[str, Any]:
    """The manifest of a stats row: input rows = kept (scored) + dropped + rejected per reason."""
    counts = {k: v for k, v in result["counts"].items() if k != "input"}
    timings = {"stats": result["seconds"]}
    manifest = build_manifest("stats", result["counts"]["input"], counts, redacted(cfg), timings)
    manifest["outputs"] = {"stats": Path(output).name}
    return manifest


def write_stats_manifest(cfg: RecycleConfig, result: dict[str, Any], output: Path) -> str:
    """Write `NAME.manifest.json` beside the row (never a run directory's manifest.json); checked."""
    uri = str(output.with_suffix(".manifest.json"))
    manifest = stats_manifest(cfg, result, str(output))
    Path(uri).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    check_invariants(manifest, uri)
    return uri
