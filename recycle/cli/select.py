"""`recycle select --input SCORED --output DIR selection.mode=...`: re-select already-scored data."""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, checked_config
from recycle.cli.pipeline import print_summary
from recycle.commands import needs
from recycle.logs import run_log


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = checked_config(args, needs.SELECT)
    from recycle.commands.select import run_select

    with run_log(cfg.output.dir) as log_file:
        manifest = run_select(cfg, preflight=False)
    print_summary(manifest, log_file)
    return 0
