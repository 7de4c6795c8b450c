"""`recycle eval CONFIG`: answers of models A and B on the test sets (or given), then the judge."""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from recycle.cli.judge import print_verdict
    from recycle.eval.run_eval import run_eval

    cfg = config_from_args(args)
    manifest = run_eval(cfg)
    print_verdict(manifest)
    print(
        f"evaluation: {cfg.output.dir}/manifest.json, report: {manifest['judge_dir']}/report/summary.md"
    )
    return 0
