"""`recycle demo`: the offline demo (scripted local teacher, tiny student, bundled sample).

Its exit status is `recycle run`'s (recycle.commands.entry): 3 when the scripted faults left
samples for a rerun, 2 for a config or pre-flight error.
"""

from __future__ import annotations

import argparse
from typing import Any

from recycle.cli.pipeline import summary_lines
from recycle.commands.entry import Face, Request, Settings, with_quiet
from recycle.config import RecycleConfig
from recycle.preflight import output_writable

CLOSING = "this was an offline wiring check with a scripted teacher; open the report above to see what a run shows"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", help="run directory (default runs/demo)")
    parser.add_argument(
        "--train-seconds", type=float, default=30.0, help="how long to train the tiny student"
    )
    parser.add_argument(
        "settings",
        nargs="*",
        metavar="key=value",
        help="config overrides, e.g. selection.mode=recycle",
    )
    parser.add_argument(
        "--no-preflight", action="store_true", help="skip the start-up checks of the demo's run"
    )


def _config(args: argparse.Namespace, settings: Settings) -> RecycleConfig:
    from recycle.demo.offline import demo_config

    return with_quiet(demo_config(args.output, args.settings), settings.quiet)


def _run(request: Request) -> dict[str, Any]:
    from recycle.demo.offline import run_demo

    return run_demo(request.cfg, request.args.train_seconds, request.preflight)


FACE = Face(
    name="demo",
    help="offline demo: scripted local teacher, tiny student, bundled Alpaca sample",
    arguments=add_arguments,
    checks=lambda request: (output_writable,),  # the student and the teacher are made by the demo
    run=_run,
    summary=lambda request, manifest, log_file: [*summary_lines(manifest, log_file), CLOSING],
    config=_config,
)
