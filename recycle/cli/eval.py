"""`recycle eval CONFIG`: answers of models A and B on the test sets (or given), then the judge."""

from __future__ import annotations

from typing import Any

from recycle.commands import needs
from recycle.commands.entry import Face, Request, add_config_arguments


def _run(request: Request) -> dict[str, Any]:
    from recycle.commands.eval import run_eval

    return run_eval(request.cfg, preflight=request.preflight)


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
    run=_run,
    summary=_summary,
)
