"""`recycle train CONFIG [key=value ...]`: fine-tune the student with Ray Train + FSDP2."""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, checked_config
from recycle.commands import needs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = checked_config(args, needs.TRAIN)
    from recycle.commands.train import run_finetune

    result = run_finetune(cfg, preflight=False)
    data = result.data
    print(
        f"trained {sum(data['steps_per_epoch'])} steps on {data['samples']} samples from {data['source']} "
        f"(left out: {data['left_out'] or 'none'}); final loss {result.metrics.get('loss', float('nan')):.4f}"
    )
    print(f"checkpoint: {result.checkpoint}")
    if result.model_dir:
        print(f"model: {result.model_dir}")
    return 0
