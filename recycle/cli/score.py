"""`recycle score --input PATH --output DIR [CONFIG] [key=value ...]`: IFD and r-IFD of a dataset."""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, checked_config
from recycle.commands import needs
from recycle.logs import run_log


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = checked_config(args, needs.SCORE)
    from recycle.commands.score import run_score

    with run_log(cfg.output.dir):
        manifest = run_score(cfg, preflight=False)
    counts, scores = manifest["counts"], manifest["scores"]
    print(
        f"scored {scores.get('rows', 0) - scores.get('unscored_rows', 0)} of {counts['input']} rows "
        f"(rejected {sum(counts['rejected'].values())}, unscored {scores.get('unscored_rows', 0)} "
        f"{scores.get('unscored_reasons') or ''})".rstrip()
    )
    print(
        f"mean IFD {scores.get('mean_ifd', float('nan')):.4f}, mean r-IFD {scores.get('mean_rifd', float('nan')):.4f}"
    )
    print(f"run directory: {cfg.output.dir}")
    return 0
