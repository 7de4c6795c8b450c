"""`recycle reflect instruction|response`: teacher reflection of a dataset into a run directory.

Exit codes as `recycle run`'s: 0 done, 3 samples left for a rerun, 4 the teacher did not answer
for teacher.max_outage_s (recycle.commands.entry).
"""

from __future__ import annotations

import argparse
from typing import Any

from recycle.commands import needs
from recycle.commands.entry import Face, Request, add_config_arguments

KINDS = {
    "instruction": "reflect on each instruction: a new, harder instruction and its answer per sample",
    "response": "reflect on each response: a better answer per sample",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", metavar="instruction|response", required=True)
    for kind, help_line in KINDS.items():
        add_config_arguments(kinds.add_parser(kind, help=help_line, description=help_line))


def _run(request: Request) -> dict[str, Any]:
    from recycle.commands.reflect import run_reflect

    return run_reflect(request.cfg, request.args.kind, preflight=request.preflight)


def _summary(request: Request, manifest: dict, log_file: str | None) -> list[str]:
    t = manifest["teacher"]
    return [
        f"reflect {request.args.kind}: {manifest['counts']['input']} rows in; {t['reflected']} "
        f"reflected, {t['not_reflected']} kept unreflected, {t['rejected']} rejected by the "
        f"teacher stage {t['status']}",
        f"teacher: {t['requests']} requests ({t['retries']} retries), {t['cache_hits']} cache hits, "
        f"{t['prompt_tokens']}+{t['completion_tokens']} tokens, ${t['cost_usd']:.4f}"
        + ("" if t["priced"] else " (model not in teacher.prices)"),
        f"run directory: {request.cfg.output.dir}",
    ]


FACE = Face(
    name="reflect",
    help="teacher reflection on instructions or responses; write reflected rows, rejects and a manifest",
    arguments=add_arguments,
    checks=lambda request: needs.REFLECT,
    run=_run,
    summary=_summary,
    words=lambda args: ("reflect", args.kind),
)
