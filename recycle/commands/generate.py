"""`recycle generate`: a model's greedy answers to the test sets, in AlpacaEval format.

DIR/model_outputs.json   AlpacaEval format (instruction, input, output, generator, dataset), set order
DIR/rejects.json         questions left unanswered, with the reason (prompt longer than allowed)
DIR/manifest.json        questions = answered + rejected, tokens generated, timings
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from recycle.commands import needs
from recycle.commands.runner import Command, Run, execute
from recycle.config import RecycleConfig
from recycle.eval.questions import load_questions
from recycle.eval.run_generate import (
    MODEL_OUTPUTS,
    REJECTS,
    STAGE,
    answer_counts,
    generate_rows,
    generation_section,
    student_for,
    write_answers,
)
from recycle.preflight import Preflight


@dataclass
class Generated:
    """What `recycle generate`'s steps hand each other: the student, then the answers."""

    student: Any = None
    answered: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def generate_command(
    model: str, out_dir: str, template: str | None = None, generator: str | None = None
) -> Command:
    """The command answering the test sets with `model` into `out_dir` (counted in questions)."""
    name = generator or posixpath.basename(model.rstrip("/")) or model

    def read(run: Run) -> list[dict[str, Any]]:
        questions = load_questions(run.cfg.eval.sets, run.cfg.eval.limit_per_set)
        run.state.student = student_for(run.cfg, model, template)  # before Ray: fails fast
        run.n_input = len(questions)
        return questions

    def write(run: Run, questions: list[dict[str, Any]]) -> None:
        student = run.state.student
        rows = generate_rows(run.cfg, student, questions)
        run.state.answered, run.state.rejected = write_answers(run.out_dir, name, rows)
        run.outputs.update(answers=MODEL_OUTPUTS, rejects=REJECTS)
        run.extra["generation"] = generation_section(
            run.cfg, student, name, questions, run.state.answered
        )

    def counts(run: Run) -> dict[str, Any]:
        return answer_counts(run.state.answered, run.state.rejected)

    return Command(STAGE, read=read, write=write, counts=counts, unit="questions", state=Generated,
                   part_files=False, out_dir=out_dir, read_before_ray=True,
                   timings=(None, "generate"), preflight=needs.generate(model, out_dir))  # fmt: skip


def run_generate(
    cfg: RecycleConfig,
    model: str,
    out_dir: str,
    template: str | None = None,
    generator: str | None = None,
    preflight: bool | Preflight = True,
) -> dict[str, Any]:
    """Answer the configured test sets with `model` into `out_dir`; returns the manifest.

    Raises:
        ConfigError: the model cannot be loaded, or an unavailable backend.
        InputError: no questions, or questions lost on the way (invariant broken).
    """
    return execute(generate_command(model, out_dir, template, generator), cfg, preflight)
