"""The `recycle` command line: one subcommand per command, each a `Face` in its own module, all
started through the one entry (recycle.commands.entry.enter). The `jobs/` scripts hand their
arguments to `main`, so `ray job submit` gets the same checks, run log and exit codes."""

from __future__ import annotations

import argparse
import importlib
import sys

from recycle import __version__
from recycle.cli.config import help_epilog
from recycle.commands.entry import Face, Settings, enter
from recycle.logs import setup_console

# name -> module under recycle.cli holding its FACE
SUBCOMMANDS: dict[str, str] = {
    "validate": "validate",
    "reflect": "reflect",
    "score": "score",
    "stats": "stats",
    "agree": "agree",
    "select": "select",
    "run": "pipeline",
    "end-to-end": "end_to_end",
    "report": "report",
    "train": "train",
    "demo": "demo",
    "generate": "generate",
    "judge": "judge",
    "eval": "eval",
    "config": "config",
}
VERBOSE_HELP = "show every log line, Ray's progress and its workers' output (by default they go to OUTPUT/logs/recycle.log)"


def face(command: str) -> Face:
    """The declaration of a subcommand."""
    return importlib.import_module(f"recycle.cli.{SUBCOMMANDS[command]}").FACE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recycle",
        description="Selective Reflection-Tuning on Ray: recycle instruction data with a teacher LLM, keep what the student finds useful.",
        epilog=help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"recycle {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        declared = face(name)
        p = sub.add_parser(
            name,
            help=declared.help,
            description=declared.help,
            epilog=help_epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )
        declared.arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`recycle COMMAND ...`: parse, then the one entry; returns the exit status."""
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
    settings = Settings(preflight=not getattr(args, "no_preflight", False), quiet=not args.verbose)
    return enter(face(args.command), args, settings)


def job(command: str, argv: list[str] | None = None) -> int:
    """A `jobs/` script: `recycle COMMAND ARGV` (ARGV default: this process's arguments)."""
    return main([command, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
