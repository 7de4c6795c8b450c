"""Ray job entrypoint: recycle the data, then fine-tune the student on the result, in one job.

    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/end_to_end.py jobs/configs/alpaca_llama2_7b.yaml output.dir=s3://bucket/runs/alpaca

The same as `recycle end-to-end CONFIG [key=value ...] [--skip-train]` (one entry:
recycle.commands.entry; the flow is recycle.commands.flow.run_end_to_end): the pipeline writes
output.dir, training fine-tunes on its kept rows (the model goes to output.dir/model), and with
eval.baseline set the fine-tuned student is judged against it; the manifest ends with the
verdict. Exit codes: 0 done, 2 nothing done (config, input, pre-flight), 3 samples left for a
rerun, 4 the teacher did not answer for teacher.max_outage_s, 130 interrupted. Submitting the
same command again resumes every stage.
"""

from __future__ import annotations

import sys

from recycle.cli.main import job


def main(argv: list[str] | None = None) -> int:
    return job("end-to-end", argv)


if __name__ == "__main__":
    sys.exit(main())
