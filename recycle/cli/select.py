"""`recycle select --input SCORED --output DIR selection.mode=...`: re-select already-scored data."""

from __future__ import annotations

from recycle.cli.pipeline import run_summary
from recycle.commands import needs
from recycle.commands.entry import Face, add_config_arguments, library

FACE = Face(
    name="select",
    help="apply a selection mode to the rows of an earlier run, without teacher or student",
    arguments=add_config_arguments,
    checks=lambda request: needs.SELECT,
    run=library("recycle.commands.select", "run_select"),
    summary=run_summary,
)
