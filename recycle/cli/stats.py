"""`recycle stats DATASET student.model=... [CONFIG] [key=value ...] [--output FILE.json]`: Table 6 row.

The run log goes beside FILE.json (logs/recycle.log) when --output is given; without it the row
is only printed and nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recycle.commands import needs
from recycle.commands.entry import (
    Face,
    Request,
    Settings,
    add_config_arguments,
    always_ok,
    config_from_args,
    with_quiet,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", help="input dataset (Alpaca JSON/JSONL, ShareGPT, Parquet...)")
    add_config_arguments(parser, io=False)
    parser.add_argument(
        "--output", dest="stats_output", help="also write the row as JSON to this file"
    )


def _config(args: argparse.Namespace, settings: Settings):
    """The config with data.input=DATASET."""
    given = argparse.Namespace(**{**vars(args), "input": args.dataset})
    return with_quiet(config_from_args(given), settings.quiet)


def _run(request: Request) -> dict[str, Any]:
    from recycle.commands.stats import run_stats

    return run_stats(request.cfg, request.args.stats_output, preflight=request.preflight)


def _summary(request: Request, row: dict, log_file: str | None) -> list[str]:
    from recycle.student.stats import format_row

    return [
        format_row(Path(request.args.dataset).name, row),
        f"{row['samples']} samples, {row['unscored']} could not be scored; student {row['student']}",
    ]


FACE = Face(
    name="stats",
    help="the papers' Table 6 statistics of a dataset under a student",
    arguments=add_arguments,
    checks=lambda request: needs.STATS,
    run=_run,
    summary=_summary,
    exit=always_ok,
    config=_config,
    log_dir=lambda r: str(Path(r.args.stats_output).parent) if r.args.stats_output else None,
)
