"""`recycle reflect instruction|response`: one teacher stage over a dataset, into a run directory.

The manifest's "teacher" section (recycle.teacher.reflect_dataset.teacher_stats) holds what the teacher cost
and what became of each sample, with its own invariant, checked like the manifest's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recycle.commands import needs
from recycle.commands.runner import Command, Run, execute
from recycle.config import RecycleConfig
from recycle.errors import ConfigError
from recycle.preflight import Preflight
from recycle.teacher.reflect_dataset import KINDS, reflect_into, teacher_stats
from recycle.teacher.session import teacher_session


@dataclass
class Reflected:
    """What a reflection's writing hands its manifest section: the teacher session's totals."""

    summary: dict[str, Any] = field(default_factory=dict)


def reflect_command(kind: str) -> Command:
    """The command of one reflection.

    Raises:
        ConfigError: an unknown kind.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown reflection {kind!r}; use one of {', '.join(KINDS)}")

    def write(run: Run, samples: Any) -> None:
        with teacher_session(run.cfg) as session:
            reflect_into(samples, run.cfg, session, kind)
        run.state.summary = session.summary

    def sections(run: Run, counts: dict[str, Any]) -> None:
        run.extra["teacher"] = teacher_stats(run.out_dir, kind, run.state.summary)

    # Normalizing ends in a shuffle (duplicates): it is finished before the teacher pool takes CPUs.
    timings = ("read_and_normalize", f"reflect_{kind}_and_write")
    return Command(f"reflect {kind}", write=write, sections=sections, timings=timings, state=Reflected,
                   checked=("teacher",), preflight=needs.REFLECT)  # fmt: skip


def run_reflect(
    cfg: RecycleConfig, kind: str, preflight: bool | Preflight = True
) -> dict[str, Any]:
    """Reflect `cfg.data.input` on its instructions or responses into `cfg.output.dir`.

    Returns:
        The manifest written to the run directory.

    Raises:
        ConfigError, TeacherAuthError, TeacherEndpointError: before or at the first request.
        InputError: the input is empty, or rows were lost (invariant broken).
    """
    return execute(reflect_command(kind), cfg, preflight)
