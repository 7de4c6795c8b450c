"""`recycle stats`: the papers' Table 6 row of a dataset under a student (no run directory).

The row is printed, and written as JSON where `output` is given, with a manifest beside it
(`NAME.manifest.json`: input rows = scored + dropped + rejected, checked as every manifest is;
without `output` the manifest is checked and not written).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recycle.commands import needs
from recycle.commands.runner import Command, Run, execute_run
from recycle.config import RecycleConfig
from recycle.preflight import Preflight
from recycle.student.coherence import load_embedder
from recycle.student.model import check_student
from recycle.student.stats import dataset_stats

log = logging.getLogger(__name__)


def check(cfg: RecycleConfig) -> None:
    """The student and the Sentence-BERT model load: fail before scoring, not after."""
    check_student(cfg.student)
    load_embedder(cfg.student.coherence_model)


@dataclass
class Row:
    """What the stats command's reading hands the rest: the Table 6 row with its counts."""

    result: dict[str, Any] = field(default_factory=dict)


def stats_command(output: str | None = None) -> Command:
    """The command computing the Table 6 row (counted in rows); the row in `state.result`."""

    def read(run: Run) -> dict[str, Any]:
        result = dataset_stats(run.cfg)
        run.state.result, run.n_input = result, result["counts"]["input"]
        run.timings["stats"] = result["seconds"]
        return result

    def write(run: Run, result: dict[str, Any]) -> None:
        if output:
            path = Path(output)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2))
            run.outputs["stats"] = path.name

    return Command("stats", read=read, write=write, check=check, counts=stats_counts, state=Row,
                   part_files=False, out_dir=str(Path(output).parent) if output else ".",
                   manifest_path=manifest_path(output), timings=(None, None),
                   preflight=needs.STATS)  # fmt: skip


def stats_counts(run: Run) -> dict[str, Any]:
    """The manifest's counts of a stats row: kept (scored), dropped and rejected per reason."""
    return {k: v for k, v in run.state.result["counts"].items() if k != "input"}


def manifest_path(output: str | None) -> str:
    """`NAME.manifest.json` beside the row (never a run directory's manifest.json); "": none."""
    return str(Path(output).with_suffix(".manifest.json")) if output else ""


def run_stats(
    cfg: RecycleConfig, output: str | None = None, preflight: bool | Preflight = True
) -> dict[str, Any]:
    """Table 6 row of `cfg.data.input` under `cfg.student`; written as JSON to `output` when given.

    Raises:
        ConfigError: the student or the Sentence-BERT model cannot be loaded.
        InputError: the input is empty, or its rows do not add up (scored + dropped + rejected).
    """
    run = execute_run(stats_command(output), cfg, preflight)
    if output:
        log.info("stats: %s (manifest %s)", output, manifest_path(output))
    return run.state.result
