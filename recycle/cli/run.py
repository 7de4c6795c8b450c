"""`recycle run CONFIG [key=value ...]`: the whole pipeline; rerun the same command to resume."""

from __future__ import annotations

import argparse
import shlex
import sys

from recycle import exit_codes
from recycle.cli.common import add_config_arguments, config_from_args
from recycle.teacher.errors import TeacherOutageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def print_summary(manifest: dict) -> None:
    """The few lines a user wants at the end of a run."""
    counts = manifest["counts"]
    print(
        f"{manifest.get('mode', '')}: input {counts['input']}, kept {counts['kept']}, "
        f"dropped {counts['dropped'] or 0}, rejected {counts['rejected'] or 0}"
    )
    teacher = manifest.get("teacher") or {}
    if teacher:
        keys = (
            "requests",
            "cache_hits",
            "retries",
            "parse_retries",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
        )
        print("teacher: " + ", ".join(f"{k} {teacher[k]}" for k in keys if k in teacher))
    outputs = manifest.get("outputs", {})
    for key in ("alpaca_json", "report"):
        if key in outputs:
            print(f"{key}: {outputs[key]}")


def resume_command(args: argparse.Namespace) -> str:
    """The command line that resumes this run (the same command)."""
    words = ["recycle", "run", *args.settings]
    for option in ("input", "output"):
        if getattr(args, option, None):
            words += [f"--{option}", getattr(args, option)]
    return shlex.join(words)


def left_for_rerun(manifest: dict, command: str) -> int:
    """Say what a rerun would retry; the exit code: INCOMPLETE when samples were left, else OK."""
    retry = manifest["counts"].get("retry") or {}
    if not retry:
        return exit_codes.OK
    hint = " (raise teacher.max_cost_usd first for 'budget')" if "budget" in retry else ""
    print(
        f"{sum(retry.values())} samples were left for a rerun {retry}; run the same command again "
        f"to retry only those{hint}:\n  {command}",
        file=sys.stderr,
    )
    return exit_codes.INCOMPLETE


def run(args: argparse.Namespace) -> int:
    from recycle.pipeline.run import run_pipeline

    try:
        manifest = run_pipeline(config_from_args(args))
    except TeacherOutageError as err:
        print(f"error: {err}\n  {resume_command(args)}", file=sys.stderr)
        return exit_codes.TEACHER_UNREACHABLE
    print_summary(manifest)
    return left_for_rerun(manifest, resume_command(args))
