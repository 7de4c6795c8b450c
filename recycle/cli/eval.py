"""`recycle eval CONFIG`: answers of models A and B on the test sets (or given), then the judge."""

from __future__ import annotations

from recycle.commands import needs
from recycle.commands.entry import (
    Face,
    Request,
    add_config_arguments,
    library,
    unanswered_for_rerun,
)


def _summary(request: Request, manifest: dict, log_file: str | None) -> list[str]:
    from recycle.commands.benchmarks import verdict_lines
    from recycle.commands.eval import REPORT
    from recycle.eval.sides import generator_names

    out = request.cfg.output.dir
    return [
        *verdict_lines(manifest["verdict"], generator_names(request.cfg)),
        f"evaluation: {out}/manifest.json, report: {out}/{REPORT}",
    ]


FACE = Face(
    name="eval",
    help="generate for models A and B (or take their answers), then judge",
    arguments=add_config_arguments,
    checks=lambda request: needs.EVAL,
    run=library("recycle.commands.eval", "run_eval"),
    summary=_summary,
    exit=lambda manifest, command: unanswered_for_rerun(manifest, command, "questions"),
)
