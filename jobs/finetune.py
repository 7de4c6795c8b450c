"""Fine-tune the student on a run's recycled data with Ray Train + FSDP2.

    ray job submit --working-dir . -- python jobs/finetune.py jobs/configs/llama2_7b_finetune.yaml \
        [key=value ...]

Same as `recycle train CONFIG [key=value ...]`. Submitting the same command again resumes from
the latest checkpoint under train.storage_path/train.name; the Hugging Face model is written to
output.dir/model.
"""

from __future__ import annotations

import argparse
import logging
import sys

from recycle.commands.train import run_finetune
from recycle.config import load_config
from recycle.errors import RecycleError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", help="YAML config (e.g. jobs/configs/llama2_7b_finetune.yaml)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides such as train.lr=1e-5")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        cfg = load_config(args.config, args.overrides)
        result = run_finetune(cfg)  # pre-flight, then Ray, then the trainer
    except RecycleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"final metrics: {result.metrics}")
    print(f"checkpoint: {result.checkpoint}")
    print(f"model: {result.model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
