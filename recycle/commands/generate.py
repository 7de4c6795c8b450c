"""`recycle generate`: a model's greedy answers to the test sets, in AlpacaEval format.

DIR/model_outputs.json   AlpacaEval format (instruction, input, output, generator, dataset), set order
DIR/rejects.json         questions left unanswered, with the reason (prompt longer than allowed)
DIR/manifest.json        questions = answered + rejected, tokens generated, timings
"""

from __future__ import annotations

import posixpath
import time
from typing import Any

from recycle.commands.runner import Run, close, start
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


def run_generate(
    cfg: RecycleConfig,
    model: str,
    out_dir: str,
    template: str | None = None,
    generator: str | None = None,
) -> dict[str, Any]:
    """Answer the configured test sets with `model` into `out_dir`; returns the manifest.

    Raises:
        ConfigError: the model cannot be loaded, or an unavailable backend.
        InputError: no questions, or questions lost on the way (invariant broken).
    """
    t0 = time.perf_counter()
    questions = load_questions(cfg.eval.sets, cfg.eval.limit_per_set)
    student = student_for(cfg, model, template)
    name = generator or posixpath.basename(model.rstrip("/")) or model
    start(cfg)
    answered, rejected = write_answers(out_dir, name, generate_rows(cfg, student, questions))
    run = Run(cfg, n_input=len(questions), out_dir=out_dir, part_files=False, lost="questions")
    run.timings["generate"] = time.perf_counter() - t0
    run.outputs.update(answers=MODEL_OUTPUTS, rejects=REJECTS)
    run.extra["generation"] = generation_section(cfg, student, name, questions, answered)
    return close(STAGE, run, answer_counts(answered, rejected))
