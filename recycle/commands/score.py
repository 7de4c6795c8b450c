"""`recycle score`: IFD and r-IFD of every kept row, written to a run directory.

The run directory (recycle/rundir.py) holds kept/ (valid samples with loss_y_given_x, loss_y,
loss_x_given_y, loss_x, ifd, rifd, y_tokens, x_tokens, score_error, score_truncated), rejects/
and manifest.json, whose "scores" section summarises the scores (means, unscored rows and why).
"""

from __future__ import annotations

from typing import Any

from recycle.commands import needs
from recycle.commands.runner import Command, Run, execute
from recycle.config import RecycleConfig
from recycle.preflight import Preflight
from recycle.student.model import check_student
from recycle.student.score_summary import STAGE, score_summary, scored_dataset


def _read(run: Run) -> Any:
    ds, run.n_input = scored_dataset(run.cfg)
    return ds


def _sections(run: Run, counts: dict[str, Any]) -> None:
    run.extra["scores"] = score_summary(run.out_dir)


SCORE = Command(
    name=STAGE,
    check=lambda cfg: check_student(cfg.student),  # a wrong student.model costs nothing
    read=_read,
    sections=_sections,
    timings=(None, "score_and_write"),
    preflight=needs.SCORE,
)


def run_score(cfg: RecycleConfig, preflight: bool | Preflight = True) -> dict[str, Any]:
    """Score `cfg.data.input` with `cfg.student` into the run directory `cfg.output.dir`.

    Returns:
        the manifest written to the run directory.

    Raises:
        ConfigError: the student cannot be loaded.
        InputError: the input is empty, or rows were lost (accounting invariant broken).
    """
    return execute(SCORE, cfg, preflight)
