"""`recycle report RUN_DIR`: rebuild the HTML / markdown report of a run directory."""

from __future__ import annotations

import argparse

from recycle.commands.entry import Face, Request, always_ok


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", help="a run directory (local, s3:// or gs://) holding manifest.json"
    )


def _run(request: Request) -> str:
    from recycle.report import write_report

    return write_report(request.args.run_dir)


FACE = Face(
    name="report",
    help="write the HTML/markdown report of a run directory",
    arguments=add_arguments,
    run=_run,
    summary=lambda request, path, log_file: [f"report: {path}"],
    exit=always_ok,
    config=lambda args, settings: None,
    log_dir=lambda request: None,
)
