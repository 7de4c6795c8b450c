"""`recycle eval` as a library call: answers of model A and model B (generated, or given), then the
judge. Everything lands under output.dir:

OUTPUT/answers_a/, answers_b/   `recycle generate` outputs (skipped when eval.answers_a/b is given)
OUTPUT/judge/                   `recycle judge` outputs: summary.json, pairs.parquet, report/, manifest
OUTPUT/manifest.json            which answers were judged, the judge's cost, and the verdict last
"""

from __future__ import annotations

import posixpath
from typing import Any

from recycle.config import RecycleConfig, redacted
from recycle.errors import ConfigError
from recycle.eval.run_generate import MODEL_OUTPUTS, run_generate
from recycle.eval.run_judge import run_judge
from recycle.rundir import write_manifest

SIDES = ("a", "b")


def answers_for(cfg: RecycleConfig, side: str, names: dict[str, str]) -> tuple[str, dict | None]:
    """(answers file of one side, its generation manifest or None when the answers were given)."""
    ev = cfg.eval
    given, model = getattr(ev, f"answers_{side}"), getattr(ev, f"model_{side}")
    if given:
        return given, None
    if not model:
        raise ConfigError(
            f"eval.model_{side} or eval.answers_{side} must be set: the model to generate with, "
            "or its answers (an AlpacaEval model_outputs.json)"
        )
    out = posixpath.join(cfg.output.dir.rstrip("/"), f"answers_{side}")
    manifest = run_generate(cfg, model, out, getattr(ev, f"template_{side}"), names[side])
    return posixpath.join(out, MODEL_OUTPUTS), manifest


def generator_names(cfg: RecycleConfig) -> dict[str, str]:
    """Names of the two models in the outputs: their folder names, told apart when they are equal."""
    names = {
        s: posixpath.basename((getattr(cfg.eval, f"model_{s}") or s.upper()).rstrip("/"))
        for s in SIDES
    }
    if names["a"] == names["b"]:
        names = {s: f"{n} ({s.upper()})" for s, n in names.items()}
    return names


def run_eval(cfg: RecycleConfig) -> dict[str, Any]:
    """Generate (or take) both sides' answers, judge them; returns the evaluation manifest.

    Raises:
        ConfigError: a side has neither a model nor answers; or what generate/judge raise.
    """
    for side in SIDES:  # fail before generating anything
        if not (getattr(cfg.eval, f"answers_{side}") or getattr(cfg.eval, f"model_{side}")):
            answers_for(cfg, side, {})
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


def baseline_config(cfg: RecycleConfig) -> RecycleConfig:
    """The papers' baseline run: the same recipe fine-tuned on the original data (data.input), in
    OUTPUT/baseline_original, under its own train.name (so both resume independently)."""
    base = cfg.model_copy(deep=True)
    base.output.dir = posixpath.join(cfg.output.dir.rstrip("/"), "baseline_original")
    base.train.dataset = cfg.data.input
    base.train.name = f"{cfg.train.name}-original"
    return base


def evaluate_finetuned(cfg: RecycleConfig, model_dir: str) -> dict[str, Any]:
    """The end-to-end job's last stage: the fine-tuned student (A) against eval.baseline (B).

    Returns:
        The evaluation manifest (written to OUTPUT/eval/manifest.json), verdict last.
    """
    from recycle.train.run import run_finetune

    if cfg.eval.baseline == "original":
        baseline = run_finetune(baseline_config(cfg)).model_dir
    else:
        baseline = cfg.student.model
    ev = cfg.model_copy(deep=True)
    ev.output.dir = posixpath.join(cfg.output.dir.rstrip("/"), "eval")
    ev.eval.model_a, ev.eval.model_b = model_dir, baseline
    ev.eval.answers_a = ev.eval.answers_b = None
    return run_eval(ev)
