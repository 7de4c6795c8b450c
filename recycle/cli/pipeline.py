"""`recycle run CONFIG [key=value ...]`: the whole pipeline; rerun the same command to resume."""

from __future__ import annotations

import argparse
import shlex
import sys

from recycle import exit_codes
from recycle.cli.common import add_config_arguments, checked_config
from recycle.commands import needs
from recycle.logs import run_log
from recycle.teacher.errors import TeacherOutageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def _reasons(by_reason: dict[str, int] | None) -> str:
    by_reason = by_reason or {}
    total = sum(by_reason.values())
    detail = ", ".join(
        f"{reason} {n}" for reason, n in sorted(by_reason.items(), key=lambda kv: -kv[1])
    )
    return f"{total} ({detail})" if detail else str(total)


def _manifest_uri(manifest: dict) -> str | None:
    run_dir = (manifest.get("config") or {}).get("output", {}).get("dir")
    return f"{run_dir.rstrip('/')}/manifest.json" if run_dir else None


def print_summary(manifest: dict, log_file: str | None = None) -> None:
    """The block a user reads at the end of a run: what happened and where everything is."""
    counts = manifest["counts"]
    seconds = sum(manifest.get("timings_s", {}).values())
    print(f"\n{manifest.get('mode', manifest.get('command', ''))} run done in {seconds:.0f}s:")
    print(
        f"  input {counts['input']}: kept {counts['kept']}, dropped {_reasons(counts['dropped'])}, "
        f"rejected {_reasons(counts['rejected'])}"
    )
    teacher = manifest.get("teacher") or {}
    if teacher:
        print(
            f"  teacher: {teacher.get('requests', 0)} requests, {teacher.get('retries', 0)} retries, "
            f"{teacher.get('cache_hits', 0)} cache hits, {teacher.get('prompt_tokens', 0)}+"
            f"{teacher.get('completion_tokens', 0)} tokens, ${teacher.get('cost_usd', 0.0):.4f}"
        )
    outputs = manifest.get("outputs", {})
    rows = [
        ("dataset", outputs.get("alpaca_json")),
        ("report", outputs.get("report")),
        ("model", outputs.get("model")),
        ("student", (manifest.get("config") or {}).get("student", {}).get("model")),
        ("manifest", _manifest_uri(manifest)),
        ("log", log_file),
    ]
    for label, value in rows:
        if value:
            print(f"  {label + ':':<10}{value}")


def resume_command(args: argparse.Namespace, *command: str) -> str:
    """The command line that resumes this run (the same command: `recycle run` unless given)."""
    words = ["recycle", *(command or ("run",)), *args.settings]
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
    cfg = checked_config(args, needs.RUN)
    from recycle.commands.pipeline import run_pipeline

    try:
        with run_log(cfg.output.dir) as log_file:
            manifest = run_pipeline(cfg, preflight=False)
    except TeacherOutageError as err:
        print(f"error: {err}\n  {resume_command(args)}", file=sys.stderr)
        return exit_codes.TEACHER_UNREACHABLE
    print_summary(manifest, log_file)
    return left_for_rerun(manifest, resume_command(args))
