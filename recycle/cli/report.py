"""`recycle report RUN_DIR`: rebuild the HTML / markdown report of a run directory."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", help="a run directory (local, s3:// or gs://) holding manifest.json"
    )


def run(args: argparse.Namespace) -> int:
    from recycle.report import write_report

    print(f"report: {write_report(args.run_dir)}")
    return 0
