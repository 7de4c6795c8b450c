"""`recycle select --input SCORED --output DIR selection.mode=...`: re-select already-scored data."""

from __future__ import annotations

from typing import Any

from recycle.cli.pipeline import run_summary
from recycle.commands import needs
from recycle.commands.entry import Face, Request, add_config_arguments


def _run(request: Request) -> dict[str, Any]:
    from recycle.commands.select import run_select

    return run_select(request.cfg, preflight=request.preflight)


FACE = Face(
    name="select",
    help="apply a selection mode to the rows of an earlier run, without teacher or student",
    arguments=add_config_arguments,
    checks=lambda request: needs.SELECT,
    run=_run,
    summary=run_summary,
)
