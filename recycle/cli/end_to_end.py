"""`recycle end-to-end`: the pipeline, fine-tuning on what it kept, then the optional evaluation.

The same flow as `jobs/end_to_end.py` and the notebook (recycle.commands.flow.run_end_to_end),
with `recycle run`'s pre-flight and exit codes: 0 done, 2 nothing done (config, input,
pre-flight), 3 samples left for a rerun (no training yet), 4 the teacher did not answer for
teacher.max_outage_s (main() maps the error to its code).
"""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, checked_config
from recycle.cli.judge import print_verdict
from recycle.cli.pipeline import left_for_rerun, print_summary, resume_command
from recycle.commands import needs
from recycle.logs import run_log


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--skip-train", action="store_true", help="stop after the data")


def run(args: argparse.Namespace) -> int:
    cfg = checked_config(args, needs.END_TO_END)
    from recycle.commands.flow import run_end_to_end

    with run_log(cfg.output.dir) as log_file:
        manifest = run_end_to_end(cfg, train=not args.skip_train, preflight=False)
    print_summary(manifest, log_file)
    if "train" in manifest:
        print(f"trained: {manifest['train']['data'].get('samples')} samples, final metrics {manifest['train']['metrics']}")  # fmt: skip
        print(f"model: {manifest['outputs']['model']}")
    if "verdict" in manifest:
        print_verdict({"verdict": manifest["verdict"], "judge": manifest["eval"].get("judge")})
    return left_for_rerun(manifest, resume_command(args, "end-to-end"))
