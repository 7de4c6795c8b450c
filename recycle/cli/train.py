"""`recycle train CONFIG [key=value ...]`: fine-tune the student with Ray Train + FSDP2."""

from __future__ import annotations

from typing import Any

from recycle.commands import needs
from recycle.commands.entry import Face, Request, add_config_arguments, always_ok, library


def _summary(request: Request, result: Any, log_file: str | None) -> list[str]:
    data = result.data
    lines = [
        f"trained {sum(data['steps_per_epoch'])} steps on {data['samples']} samples from "
        f"{data['source']} (left out: {data['left_out'] or 'none'}); final loss "
        f"{result.metrics.get('loss', float('nan')):.4f}",
        f"checkpoint: {result.checkpoint}",
    ]
    return lines + ([f"model: {result.model_dir}"] if result.model_dir else [])


FACE = Face(
    name="train",
    help="fine-tune the student with Ray Train + FSDP2; rerun the same command to resume",
    arguments=add_config_arguments,
    checks=lambda request: needs.TRAIN,
    run=library("recycle.commands.train", "run_finetune"),
    summary=_summary,
    exit=always_ok,
)
