"""`recycle stats DATASET student.model=... [CONFIG] [key=value ...] [--output FILE.json]`: Table 6 row."""

from __future__ import annotations

import argparse
from pathlib import Path

from recycle.cli.common import add_config_arguments, checked_config
from recycle.commands import needs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", help="input dataset (Alpaca JSON/JSONL, ShareGPT, Parquet...)")
    add_config_arguments(parser, io=False)
    parser.add_argument(
        "--output", dest="stats_output", help="also write the row as JSON to this file"
    )


def run(args: argparse.Namespace) -> int:
    args.input = args.dataset
    cfg = checked_config(args, needs.STATS)
    from recycle.commands.stats import run_stats
    from recycle.student.stats import format_row

    row = run_stats(cfg, args.stats_output, preflight=False)
    print(format_row(Path(args.dataset).name, row))
    print(
        f"{row['samples']} samples, {row['unscored']} could not be scored; student {row['student']}"
    )
    return 0
