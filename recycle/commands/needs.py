"""What each command needs before it starts: one declaration per command, nothing else imported.

Each is a tuple of recycle.preflight checks (or, for a command given a model, files or a folder
as arguments, a function of them). A command's `Command.preflight` is its declaration here; the
one entry (recycle.commands.entry) runs the same declaration before it opens the run's log, and
hands the runner a `Preflight` policy that marks them done, so each check runs once. This module
imports only recycle.preflight, so an entry can read it before Ray, torch or a client is imported.
"""

from __future__ import annotations

from recycle.preflight import (
    Check,
    Given,
    check_file,
    check_model_path,
    check_output,
    eval_alpaca_files,
    eval_benchmarks,
    eval_judge_endpoint,
    eval_sides,
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
TRAIN: tuple[Check, ...] = (student_model, train_storage_writable)
EVAL: tuple[Check, ...] = (
    output_writable,
    eval_sides,
    eval_judge_endpoint,
    generation_backend,
    eval_benchmarks,
    eval_alpaca_files,
)


def generate(model: str | None, out_dir: str) -> tuple[Check, ...]:
    """`recycle generate`: the backend, the model and the output folder given as arguments."""
    return (
        generation_backend,
        Given(check_model_path, model, "--model"),
        Given(check_output, out_dir, "--output"),
    )


def judge(answers_a: str, answers_b: str, out_dir: str) -> tuple[Check, ...]:
    """`recycle judge`: the judge's endpoint, then the answer files and output folder given."""
    files = (
        Given(check_file, answers_a, "--answers-a"),
        Given(check_file, answers_b, "--answers-b"),
    )
    return judge_endpoint, Given(check_output, out_dir, "--output"), *files
