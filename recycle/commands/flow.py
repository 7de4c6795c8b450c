"""run -> train -> (optional) eval as one library function.

`recycle end-to-end`, `jobs/end_to_end.py` and the notebook all call `run_end_to_end`: the
pipeline writes output.dir, training fine-tunes the student on the kept rows (the model goes to
output.dir/model), and with eval.baseline set the fine-tuned student is judged against it. The
run's manifest then also says where the model is, how training went and, last, the verdict.
Running it again resumes each stage (teacher cache, run directory, latest checkpoint).
"""

from __future__ import annotations

import json
from typing import Any

from recycle.commands import needs
from recycle.commands.runner import check_invariants
from recycle.config import RecycleConfig
from recycle.errors import InputError
from recycle.preflight import Preflight
from recycle.rundir import read_manifest, write_manifest


def run_end_to_end(
    cfg: RecycleConfig, train: bool = True, preflight: bool | Preflight = True
) -> dict[str, Any]:
    """The pipeline, then (unless `train` is False) fine-tuning and the optional evaluation.

    Pre-flight (recycle.commands.needs.END_TO_END) runs before the pipeline unless `preflight`
    is False or an entry's policy that already ran it; each stage (the evaluation's generations
    and judge included) inherits the policy: off stays off, a check already run is not run again.

    Returns:
        The run's manifest, with "train" and "verdict" sections when those stages ran.

    Raises:
        InputError: the pipeline kept no samples to fine-tune on.
        TeacherOutageError: the teacher did not answer for teacher.max_outage_s (exit 4).
    """
    from recycle.commands.pipeline import run_pipeline

    policy = Preflight.of(preflight).run(cfg, needs.END_TO_END)
    manifest = run_pipeline(cfg, preflight=policy)
    if not train or manifest["counts"].get("retry"):
        return manifest  # samples left for a rerun: train once the data is whole
    if not manifest["counts"]["kept"]:
        raise InputError("the pipeline kept no samples, nothing to fine-tune on")
    from recycle.commands.train import run_finetune

    result = run_finetune(cfg, preflight=policy)
    manifest = record_training(cfg.output.dir, result)
    if cfg.eval.baseline and result.model_dir:
        from recycle.commands.eval import evaluate_finetuned

        manifest = record_evaluation(
            cfg.output.dir, evaluate_finetuned(cfg, result.model_dir, policy)
        )
    return manifest


def record_training(run_dir: str, result: Any) -> dict[str, Any]:
    """Add the fine-tuning outcome to the run's manifest, so one file says what the job made."""
    manifest = read_manifest(run_dir)
    manifest["outputs"]["model"] = result.model_dir
    train = {"checkpoint": result.checkpoint, "metrics": result.metrics, "data": result.data}
    manifest["train"] = json.loads(json.dumps(train, default=str))  # numpy scalars -> JSON
    return rewrite_checked(run_dir, manifest)


def record_evaluation(run_dir: str, evaluation: dict[str, Any]) -> dict[str, Any]:
    """Add the judge's verdict on the fine-tuned student to the run's manifest, as its last entry."""
    manifest = read_manifest(run_dir)
    if "judge_dir" in evaluation:  # the pairwise judge ran
        manifest["outputs"]["eval"] = evaluation["judge_dir"]
    manifest["eval"] = {k: evaluation[k] for k in ("answers", "judge") if k in evaluation}
    manifest.pop("verdict", None)
    manifest["verdict"] = evaluation["verdict"]
    return rewrite_checked(run_dir, manifest)


def rewrite_checked(run_dir: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write the run's manifest with a later stage's sections, checking its invariant again (the
    runner checked it when the pipeline wrote it; a section added later must not break it)."""
    check_invariants(manifest, write_manifest(run_dir, manifest))
    return manifest
