"""Ray job entrypoint: the selective recycling pipeline from a config.

    ray job submit --working-dir . -- python jobs/recycle_data.py jobs/configs/alpaca_llama2_7b.yaml \
        output.dir=s3://bucket/runs/alpaca

Submitting the same command again resumes the run. All logic lives in recycle.pipeline.
"""

from __future__ import annotations

import argparse
import logging
import sys

from recycle.cli.common import add_config_arguments, config_from_args
from recycle.cli.pipeline import print_summary
from recycle.errors import RecycleError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from recycle.commands.pipeline import run_pipeline

    try:
        print_summary(run_pipeline(config_from_args(args), preflight=not args.no_preflight))
    except RecycleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
