"""`recycle run CONFIG [key=value ...]`: the whole pipeline; rerun the same command to resume."""

from __future__ import annotations

from recycle.commands import needs
from recycle.commands.entry import (
    Face,
    Request,
    add_config_arguments,
    left_for_rerun,
    library,
    resume_command,
)

# left_for_rerun and resume_command: the entry's, read from here by tests/unit/pipeline/test_resume.py
__all__ = [
    "FACE",
    "left_for_rerun",
    "print_summary",
    "resume_command",
    "run_summary",
    "summary_lines",
]


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


def summary_lines(manifest: dict, log_file: str | None = None) -> list[str]:
    """The block a user reads at the end of a run: what happened and where everything is."""
    counts = manifest["counts"]
    seconds = sum(manifest.get("timings_s", {}).values())
    lines = [
        f"\n{manifest.get('mode', manifest.get('command', ''))} run done in {seconds:.0f}s:",
        f"  input {counts['input']}: kept {counts['kept']}, dropped {_reasons(counts['dropped'])}, "
        f"rejected {_reasons(counts['rejected'])}",
    ]
    teacher = manifest.get("teacher") or {}
    if teacher:
        lines.append(
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
    return lines + [f"  {label + ':':<10}{value}" for label, value in rows if value]


def print_summary(manifest: dict, log_file: str | None = None) -> None:
    """Print `summary_lines` (notebooks that ran the library themselves)."""
    print("\n".join(summary_lines(manifest, log_file)))


def run_summary(request: Request, manifest: dict, log_file: str | None) -> list[str]:
    """A face's summary: the run's block."""
    return summary_lines(manifest, log_file)


FACE = Face(
    name="run",
    help="the whole selective recycling pipeline from a config; rerun to resume",
    arguments=add_config_arguments,
    checks=lambda request: needs.RUN,
    run=library("recycle.commands.pipeline", "run_pipeline"),
    summary=run_summary,
)
