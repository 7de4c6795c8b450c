"""`recycle select --input SCORED --output DIR selection.mode=...`: re-select already-scored data."""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, config_from_args
from recycle.cli.run import print_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from recycle.pipeline.reselect import run_select

    print_summary(run_select(config_from_args(args)))
    return 0
