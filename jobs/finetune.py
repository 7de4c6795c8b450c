"""Ray job entrypoint: fine-tune the student on a run's recycled data with Ray Train + FSDP2.

    ray job submit --working-dir . -- python jobs/finetune.py jobs/configs/llama2_7b_finetune.yaml \
        [key=value ...]

The same as `recycle train CONFIG [key=value ...]` (one entry: recycle.commands.entry), exit
codes included (0 done, 2 config / input / pre-flight, 130 interrupted). Submitting the same
command again resumes from the latest checkpoint under train.storage_path/train.name; the Hugging
Face model is written to output.dir/model.
"""

from __future__ import annotations

import sys

from recycle.cli.main import job


def main(argv: list[str] | None = None) -> int:
    return job("train", argv)


if __name__ == "__main__":
    sys.exit(main())
