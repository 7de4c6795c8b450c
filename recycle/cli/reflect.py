"""`recycle reflect instruction|response`: teacher reflection of a dataset into a run directory."""

from __future__ import annotations

import argparse
import sys

from recycle import exit_codes
from recycle.cli.common import add_config_arguments, checked_config
from recycle.cli.pipeline import left_for_rerun, resume_command
from recycle.commands import needs
from recycle.logs import run_log
from recycle.teacher.errors import TeacherOutageError

KINDS = {
    "instruction": "reflect on each instruction: a new, harder instruction and its answer per sample",
    "response": "reflect on each response: a better answer per sample",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", metavar="instruction|response", required=True)
    for kind, help_line in KINDS.items():
        add_config_arguments(kinds.add_parser(kind, help=help_line, description=help_line))


def run(args: argparse.Namespace) -> int:
    """Run the reflection, print what happened and what it cost; the exit code as `recycle run`'s.

    0 done, 3 samples left for a rerun, 4 the teacher did not answer for teacher.max_outage_s;
    other errors reach main() as RecycleError."""
    cfg = checked_config(args, needs.REFLECT)
    from recycle.commands.reflect import run_reflect

    command = resume_command(args, "reflect", args.kind)
    try:
        with run_log(cfg.output.dir):
            manifest = run_reflect(cfg, args.kind, preflight=False)
    except TeacherOutageError as err:
        print(f"error: {err}\n  {command}", file=sys.stderr)
        return exit_codes.TEACHER_UNREACHABLE
    t = manifest["teacher"]
    print(
        f"reflect {args.kind}: {manifest['counts']['input']} rows in; {t['reflected']} reflected, "
        f"{t['not_reflected']} kept unreflected, {t['rejected']} rejected by the teacher stage "
        f"{t['status']}"
    )
    print(
        f"teacher: {t['requests']} requests ({t['retries']} retries), {t['cache_hits']} cache hits, "
        f"{t['prompt_tokens']}+{t['completion_tokens']} tokens, ${t['cost_usd']:.4f}"
        + ("" if t["priced"] else " (model not in teacher.prices)")
    )
    print(f"run directory: {cfg.output.dir}")
    return left_for_rerun(manifest, command)  # 3 when samples were left for a rerun, as `run`
