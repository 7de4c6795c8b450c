"""The `recycle` command line: one subcommand per stage, each in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

from pydantic import ValidationError

from recycle import __version__
from recycle.cli.config import help_epilog
from recycle.errors import RecycleError
from recycle.exit_codes import exit_code_of
from recycle.logs import setup_console

# name -> (module under recycle.cli, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
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
    "run": ("pipeline", "the whole selective recycling pipeline from a config; rerun to resume"),
    "end-to-end": (
        "end_to_end",
        "the pipeline, fine-tuning on what it kept, then the optional evaluation; rerun to resume",
    ),
    "report": ("report", "write the HTML/markdown report of a run directory"),
    "train": (
        "train",
        "fine-tune the student with Ray Train + FSDP2; rerun the same command to resume",
    ),
    "demo": ("demo", "offline demo: scripted local teacher, tiny student, bundled Alpaca sample"),
    "generate": ("generate", "greedy answers of a model to the test sets (AlpacaEval format)"),
    "judge": ("judge", "pairwise LLM judge of two answer files, both orders; win/tie/lose"),
    "eval": ("eval", "generate for models A and B (or take their answers), then judge"),
    "config": ("config", "print the resolved config with each key's description (config show)"),
}
VERBOSE_HELP = "show every log line, Ray's progress and its workers' output (by default they go to OUTPUT/logs/recycle.log)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recycle",
        description="Selective Reflection-Tuning on Ray: recycle instruction data with a teacher LLM, keep what the student finds useful.",
        epilog=help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"recycle {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=VERBOSE_HELP,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_line) in SUBCOMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_line,
            description=help_line,
            epilog=help_epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )
        importlib.import_module(f"recycle.cli.{module}").add_arguments(p)
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
    setup_console(args.verbose)
    module, _ = SUBCOMMANDS[args.command]
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
