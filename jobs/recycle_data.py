"""Ray job entrypoint: the selective recycling pipeline from a config.

    ray job submit --working-dir . -- python jobs/recycle_data.py jobs/configs/alpaca_llama2_7b.yaml \
        output.dir=s3://bucket/runs/alpaca

The same as `recycle run CONFIG [key=value ...]` (one entry: recycle.commands.entry): pre-flight,
the run log in output.dir/logs/recycle.log (the console keeps progress lines; --verbose shows
everything), the summary, and the exit codes 0 done, 2 config / input / pre-flight, 3 samples
left for a rerun, 4 the teacher did not answer for teacher.max_outage_s, 130 interrupted.
Submitting the same command again resumes the run.
"""

from __future__ import annotations

import sys

from recycle.cli.main import job


def main(argv: list[str] | None = None) -> int:
    return job("run", argv)


if __name__ == "__main__":
    sys.exit(main())
