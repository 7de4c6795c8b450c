"""What each command needs before it starts: one declaration per command, nothing else imported.

Each is a tuple of recycle.preflight checks. The runner runs a command's declaration (its
`Command.preflight`) wherever the command is started from (the CLI, jobs, notebooks, the library
entry points); the CLI runs the same declaration itself before it opens the run's log, then tells
the entry point not to run it again. This module imports only recycle.preflight, so the CLI can
read it before Ray, torch or a client is imported.
"""

from __future__ import annotations

from recycle.preflight import (
    Check,
    eval_judge_endpoint,
    generation_backend,
    input_readable,
    judge_endpoint,
    mode_needs,
    output_writable,
    student_model,
    teacher_cache_writable,
    teacher_endpoint,
    train_storage_writable,
)

VALIDATE: tuple[Check, ...] = (input_readable, output_writable)
SCORE: tuple[Check, ...] = (input_readable, output_writable, student_model)
REFLECT: tuple[Check, ...] = (
    input_readable,
    output_writable,
    teacher_endpoint,
    teacher_cache_writable,
)
STATS: tuple[Check, ...] = (input_readable, student_model)
SELECT: tuple[Check, ...] = (output_writable,)
RUN: tuple[Check, ...] = (input_readable, output_writable, mode_needs)
END_TO_END: tuple[Check, ...] = (*RUN, student_model, train_storage_writable)  # then training
GENERATE: tuple[Check, ...] = (
    generation_backend,
)  # plus its model and output folder, given as arguments
JUDGE: tuple[Check, ...] = (judge_endpoint,)
TRAIN: tuple[Check, ...] = (student_model, train_storage_writable)
EVAL: tuple[Check, ...] = (output_writable, eval_judge_endpoint, generation_backend)
