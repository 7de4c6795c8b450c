"""The `recycle` command line: one subcommand per stage, each in its own module."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pydantic import ValidationError

from recycle import __version__
from recycle.errors import RecycleError
from recycle.exit_codes import exit_code_of

# name -> (module under recycle.cli, or None while the issue that fills it is open; one-line help)
SUBCOMMANDS: dict[str, tuple[str | None, str]] = {
    "validate": (
        "validate",
        "read and normalize a dataset; write kept rows, rejects with reasons and a manifest",
    ),
    "reflect": (
        "reflect",
        "teacher reflection on instructions or responses; write reflected rows, rejects and a manifest",
    ),
    "score": ("score", "student IFD and r-IFD scores of a dataset, written to a run directory"),
    "stats": ("stats", "the papers' Table 6 statistics of a dataset under a student"),
    "select": (
        "select",
        "apply a selection mode to the rows of an earlier run, without teacher or student",
    ),
    "run": ("run", "the whole selective recycling pipeline from a config; rerun to resume"),
    "report": ("report", "write the HTML/markdown report of a run directory"),
    "train": (
        "train",
        "fine-tune the student with Ray Train + FSDP2; rerun the same command to resume",
    ),
    "demo": ("demo", "offline demo: scripted local teacher, tiny student, bundled Alpaca sample"),
    "generate": ("generate", "greedy answers of a model to the test sets (AlpacaEval format)"),
    "judge": ("judge", "pairwise LLM judge of two answer files, both orders; win/tie/lose"),
    "eval": ("eval", "generate for models A and B (or take their answers), then judge"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recycle",
        description="Selective Reflection-Tuning on Ray: recycle instruction data with a teacher LLM, keep what the student finds useful.",
    )
    parser.add_argument("--version", action="version", version=f"recycle {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_line) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_line, description=help_line)
        if module:
            importlib.import_module(f"recycle.cli.{module}").add_arguments(p)
        else:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # `--input X key=value`: overrides after an option land here
        if not hasattr(args, "settings") or any(e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.settings = [*args.settings, *extra]
    if not args.command:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    module, help_line = SUBCOMMANDS[args.command]
    if module is None:
        print(f"recycle {args.command}: not available yet: {help_line}", file=sys.stderr)
        return 2
    try:
        return importlib.import_module(f"recycle.cli.{module}").run(args)
    except (RecycleError, ValidationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return exit_code_of(err)  # 2, or the code the error carries (recycle/exit_codes.py)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
