"""`recycle eval`: answers of model A and model B (generated, or given), then the judge.

The manifest of each generation and of the judge is checked by its own command; the evaluation's
manifest (OUTPUT/manifest.json) says which answers were judged and the verdict.
"""

from __future__ import annotations

import posixpath
from typing import Any

from recycle.commands.generate import run_generate
from recycle.commands.judge import run_judge
from recycle.config import RecycleConfig, redacted
from recycle.eval.run_generate import MODEL_OUTPUTS
from recycle.eval.sides import SIDES, baseline_config, check_sides, eval_config, generator_names
from recycle.rundir import write_manifest


def answers_for(cfg: RecycleConfig, side: str, names: dict[str, str]) -> tuple[str, dict | None]:
    """(answers file of one side, its generation manifest or None when the answers were given)."""
    given, model = getattr(cfg.eval, f"answers_{side}"), getattr(cfg.eval, f"model_{side}")
    if given:
        return given, None
    out = posixpath.join(cfg.output.dir.rstrip("/"), f"answers_{side}")
    manifest = run_generate(cfg, model, out, getattr(cfg.eval, f"template_{side}"), names[side])
    return posixpath.join(out, MODEL_OUTPUTS), manifest


def run_eval(cfg: RecycleConfig) -> dict[str, Any]:
    """Generate (or take) both sides' answers, judge them; returns the evaluation manifest.

    Raises:
        ConfigError: a side has neither a model nor answers; or what generate/judge raise.
    """
    check_sides(cfg)
    names = generator_names(cfg)
    answers, generation = {}, {}
    for side in SIDES:
        answers[side], generation[side] = answers_for(cfg, side, names)
    judge_dir = posixpath.join(cfg.output.dir.rstrip("/"), "judge")
    judged = run_judge(cfg, answers["a"], answers["b"], judge_dir)
    manifest = {
        "command": "eval",
        "answers": answers,
        "generation": {s: g["generation"] if g else None for s, g in generation.items()},
        "judge_dir": judge_dir,
        "judge": judged["judge"],
        "config": redacted(cfg),
        "verdict": judged["verdict"],
    }
    write_manifest(cfg.output.dir, manifest)
    return manifest


def evaluate_finetuned(cfg: RecycleConfig, model_dir: str) -> dict[str, Any]:
    """The end-to-end job's last stage: the fine-tuned student (A) against eval.baseline (B).

    Returns:
        The evaluation manifest (written to OUTPUT/eval/manifest.json), verdict last.
    """
    from recycle.commands.train import run_finetune

    if cfg.eval.baseline == "original":
        baseline = run_finetune(baseline_config(cfg)).model_dir
    else:
        baseline = cfg.student.model
    return run_eval(eval_config(cfg, model_dir, baseline))
