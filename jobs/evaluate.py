"""Ray job entrypoint: judge model A against model B on the papers' five test sets.

    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/evaluate.py jobs/configs/evaluate.yaml eval.model_a=s3://b/runs/x/model \
        eval.model_b=/models/Llama-2-7b-hf output.dir=s3://bucket/evals/x

Same as `recycle eval CONFIG [key=value ...]`: greedy answers of both models on a GPU actor pool
(or their existing model_outputs.json through eval.answers_a / eval.answers_b), then the pairwise
judge in both orders (the `judge` section: OpenAI or any OpenAI-compatible server). Writes
output.dir/answers_{a,b}/, output.dir/judge/ (summary.json, pairs, report) and a manifest that
ends with the verdict. All logic lives in recycle.eval.
"""

from __future__ import annotations

import argparse
import logging
import sys

from recycle.cli.common import add_config_arguments, config_from_args
from recycle.cli.judge import print_verdict
from recycle.errors import RecycleError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from recycle.commands.eval import run_eval

    try:
        manifest = run_eval(config_from_args(args))
    except RecycleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_verdict(manifest)
    print(f"report: {manifest['judge_dir']}/report/summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
