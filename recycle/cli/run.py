"""`recycle run CONFIG [key=value ...]`: the whole pipeline; rerun the same command to resume."""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, checked_config
from recycle.logs import run_log

PREFLIGHT = ("input", "output", "mode")


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


def run(args: argparse.Namespace) -> int:
    cfg = checked_config(args, PREFLIGHT)
    from recycle.pipeline.run import run_pipeline

    with run_log(cfg.output.dir) as log_file:
        manifest = run_pipeline(cfg)
    print_summary(manifest, log_file)
    return 0
