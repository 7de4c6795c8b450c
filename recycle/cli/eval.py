"""`recycle eval CONFIG`: answers of models A and B on the test sets (or given), then the judge."""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, checked_config, preflight_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = checked_config(args, ("output", "judge", "generation"))
    e = cfg.eval
    models = {
        f"eval.model_{k}": m
        for k, m, a in (("a", e.model_a, e.answers_a), ("b", e.model_b, e.answers_b))
        if not a
    }
    preflight_options(
        args, models=models, files={"eval.answers_a": e.answers_a, "eval.answers_b": e.answers_b}
    )
    from recycle.cli.judge import print_verdict
    from recycle.commands.eval import run_eval

    manifest = run_eval(cfg)
    print_verdict(manifest)
    print(
        f"evaluation: {cfg.output.dir}/manifest.json, report: {manifest['judge_dir']}/report/summary.md"
    )
    return 0
