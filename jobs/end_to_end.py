"""Ray job entrypoint: recycle the data, then fine-tune the student on the result, in one job.

    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/end_to_end.py jobs/configs/alpaca_llama2_7b.yaml output.dir=s3://bucket/runs/alpaca

Stage 1 is `recycle run` (the pipeline writes output.dir), stage 2 is `recycle train` on the kept
rows it wrote (the model goes to output.dir/model); the manifest then also says where the model is
and how training went. With eval.baseline set (`base`: the student before fine-tuning; `original`:
the same recipe fine-tuned on data.input, in this job), a last stage judges the fine-tuned student
against it on the test sets, and the manifest ends with the verdict. Submitting the same command again resumes: the pipeline skips the samples
already written and the teacher cache answers every prompt already paid for, and training resumes
from its latest checkpoint. All logic lives in recycle.pipeline and recycle.train.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from recycle.cli.common import add_config_arguments, config_from_args
from recycle.cli.judge import print_verdict
from recycle.cli.pipeline import print_summary
from recycle.errors import RecycleError
from recycle.rundir import read_manifest, write_manifest


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--skip-train",
        action="store_true",
        help="stop after the data (same as jobs/recycle_data.py)",
    )
    return parser.parse_args(argv)


def record_training(run_dir: str, result: Any) -> dict[str, Any]:
    """Add the fine-tuning outcome to the run's manifest, so one file says what the job made."""
    manifest = read_manifest(run_dir)
    manifest["outputs"]["model"] = result.model_dir
    train = {"checkpoint": result.checkpoint, "metrics": result.metrics, "data": result.data}
    manifest["train"] = json.loads(json.dumps(train, default=str))  # numpy scalars -> JSON
    write_manifest(run_dir, manifest)
    return manifest


def record_evaluation(run_dir: str, evaluation: dict[str, Any]) -> dict[str, Any]:
    """Add the judge's verdict on the fine-tuned student to the run's manifest, as its last entry."""
    manifest = read_manifest(run_dir)
    manifest["outputs"]["eval"] = evaluation["judge_dir"]
    manifest["eval"] = {k: evaluation[k] for k in ("answers", "judge")}
    manifest.pop("verdict", None)
    manifest["verdict"] = evaluation["verdict"]
    write_manifest(run_dir, manifest)
    print_verdict(evaluation)
    return manifest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from recycle.commands.eval import evaluate_finetuned
    from recycle.commands.pipeline import run_pipeline
    from recycle.commands.train import run_finetune

    try:
        cfg = config_from_args(args)
        manifest = run_pipeline(cfg)
        print_summary(manifest)
        if args.skip_train:
            return 0
        if not manifest["counts"]["kept"]:
            print("error: the pipeline kept no samples, nothing to fine-tune on", file=sys.stderr)
            return 2
        result = run_finetune(cfg)
        record_training(cfg.output.dir, result)
        print(f"trained: {result.data.get('samples')} samples, final metrics {result.metrics}")
        print(f"model: {result.model_dir}")
        if cfg.eval.baseline and result.model_dir:
            record_evaluation(cfg.output.dir, evaluate_finetuned(cfg, result.model_dir))
    except RecycleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
