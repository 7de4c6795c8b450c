"""`recycle validate`: read and normalize a dataset, write kept rows, rejects and the manifest."""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, checked_config
from recycle.commands import needs
from recycle.logs import run_log


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = checked_config(args, needs.VALIDATE)
    from recycle.commands.validate import run_validate

    with run_log(cfg.output.dir):
        manifest = run_validate(cfg, preflight=False)
    counts = manifest["counts"]
    print(
        f"validated {counts['input']} rows: kept {counts['kept']}, "
        f"rejected {sum(counts['rejected'].values())} {counts['rejected'] or ''}".rstrip()
    )
    print(f"run directory: {cfg.output.dir}")
    return 0
