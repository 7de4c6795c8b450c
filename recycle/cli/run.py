"""`recycle run CONFIG [key=value ...]`: the whole pipeline; rerun the same command to resume."""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, checked_config

PREFLIGHT = ("input", "output", "mode")


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


def run(args: argparse.Namespace) -> int:
    cfg = checked_config(args, PREFLIGHT)
    from recycle.pipeline.run import run_pipeline

    print_summary(run_pipeline(cfg))
    return 0
