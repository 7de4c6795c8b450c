"""`recycle end-to-end`: the pipeline, fine-tuning on what it kept, then the optional evaluation.

The same flow as `jobs/end_to_end.py` and the notebook (recycle.commands.flow.run_end_to_end),
through the one entry: 0 done, 2 nothing done (config, input, pre-flight), 3 samples left for a
rerun (no training yet), 4 the teacher did not answer for teacher.max_outage_s.
"""

from __future__ import annotations

import argparse
from typing import Any

from recycle.cli.judge import verdict_lines
from recycle.cli.pipeline import summary_lines
from recycle.commands import needs
from recycle.commands.entry import Face, Request, add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--skip-train", action="store_true", help="stop after the data")


def _run(request: Request) -> dict[str, Any]:
    from recycle.commands.flow import run_end_to_end

    return run_end_to_end(
        request.cfg, train=not request.args.skip_train, preflight=request.preflight
    )


def _summary(request: Request, manifest: dict, log_file: str | None) -> list[str]:
    lines = summary_lines(manifest, log_file)
    if "train" in manifest:
        lines += [
            f"trained: {manifest['train']['data'].get('samples')} samples, "
            f"final metrics {manifest['train']['metrics']}",
            f"model: {manifest['outputs']['model']}",
        ]
    if "verdict" in manifest:
        lines += verdict_lines(
            {"verdict": manifest["verdict"], "judge": manifest["eval"].get("judge")}
        )
    return lines


FACE = Face(
    name="end-to-end",
    help="the pipeline, fine-tuning on what it kept, then the optional evaluation; rerun to resume",
    arguments=add_arguments,
    checks=lambda request: needs.END_TO_END,
    run=_run,
    summary=_summary,
)
