"""`recycle demo`: the offline demo (scripted local teacher, tiny student, bundled sample)."""

from __future__ import annotations

import argparse

from recycle.cli.common import console_is_quiet
from recycle.cli.pipeline import print_summary
from recycle.config import load_config
from recycle.logs import run_log


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


def run(args: argparse.Namespace) -> int:
    from recycle.demo.offline import CONFIG, run_demo

    output = args.output or load_config(CONFIG).output.dir
    with run_log(output) as log_file:
        quiet = f"ray.quiet={str(console_is_quiet(args)).lower()}"
        manifest = run_demo(output, [quiet, *args.settings], args.train_seconds)
    print_summary(manifest, log_file)
    print(
        "this was an offline wiring check with a scripted teacher; open the report above to see what a run shows"
    )
    return 0
