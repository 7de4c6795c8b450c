"""Ray job entrypoint: judge model A against model B on the papers' five test sets.

    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/evaluate.py jobs/configs/evaluate.yaml eval.model_a=s3://b/runs/x/model \
        eval.model_b=/models/Llama-2-7b-hf output.dir=s3://bucket/evals/x

The same as `recycle eval CONFIG [key=value ...]` (one entry: recycle.commands.entry): greedy
answers of both models on a GPU actor pool (or their existing model_outputs.json through
eval.answers_a / eval.answers_b), then the pairwise judge in both orders (the `judge` section:
OpenAI or any OpenAI-compatible server), and every other benchmark the config asks for. Writes
output.dir/answers_{a,b}/, output.dir/judge/, output.dir/report.md and a manifest that ends
with the verdict. Exit codes as every entry's (recycle/exit_codes.py): 0 done, 2 config / input /
pre-flight, 4 a teacher-like endpoint stopped answering (TeacherOutageError), 130 interrupted.
"""

from __future__ import annotations

import sys

from recycle.cli.main import job


def main(argv: list[str] | None = None) -> int:
    return job("eval", argv)


if __name__ == "__main__":
    sys.exit(main())
