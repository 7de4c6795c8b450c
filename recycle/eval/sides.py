"""The two sides of `recycle eval` (recycle.commands.eval): which must be set, their names, the
baseline run of the end-to-end job.

Everything lands under output.dir, one folder per benchmark (recycle.commands.benchmarks):

OUTPUT/answers_a/, answers_b/   the pairwise judge's answers (`recycle generate`; skipped when
                                eval.answers_a/b is given)
OUTPUT/judge/                   `recycle judge` outputs: summary.json, pairs.parquet, report/, manifest
OUTPUT/benchmarks/results.json  lm-eval tasks (Open LLM Leaderboard v1), A and B
OUTPUT/alpaca_eval/             AlpacaEval: both models' answers, the package's outputs, results.json
OUTPUT/report.md                every benchmark's verdict, A and B side by side
OUTPUT/manifest.json            what ran, each benchmark's accounting, the verdict last
"""

from __future__ import annotations

import posixpath

from recycle.config import RecycleConfig
from recycle.errors import ConfigError

SIDES = ("a", "b")


def check_sides(cfg: RecycleConfig) -> None:
    """Each side needs a model to generate with, or its answers: fail before generating anything.

    Raises:
        ConfigError: naming the side that has neither.
    """
    for side in SIDES:
        if not (getattr(cfg.eval, f"answers_{side}") or getattr(cfg.eval, f"model_{side}")):
            raise ConfigError(
                f"eval.model_{side} or eval.answers_{side} must be set: the model to generate with, "
                "or its answers (an AlpacaEval model_outputs.json)"
            )


def generator_names(cfg: RecycleConfig) -> dict[str, str]:
    """Names of the two models in the outputs: their folder names, told apart when they are equal."""
    names = {
        s: posixpath.basename((getattr(cfg.eval, f"model_{s}") or s.upper()).rstrip("/"))
        for s in SIDES
    }
    if names["a"] == names["b"]:
        names = {s: f"{n} ({s.upper()})" for s, n in names.items()}
    return names


def baseline_config(cfg: RecycleConfig) -> RecycleConfig:
    """The papers' baseline run: the same recipe fine-tuned on the original data (data.input), in
    OUTPUT/baseline_original, under its own train.name (so both resume independently)."""
    base = cfg.model_copy(deep=True)
    base.output.dir = posixpath.join(cfg.output.dir.rstrip("/"), "baseline_original")
    base.train.dataset = cfg.data.input
    base.train.name = f"{cfg.train.name}-original"
    return base


def eval_config(cfg: RecycleConfig, model_dir: str, baseline: str) -> RecycleConfig:
    """The end-to-end job's evaluation: `model_dir` (A) against `baseline` (B), in OUTPUT/eval."""
    ev = cfg.model_copy(deep=True)
    ev.output.dir = posixpath.join(cfg.output.dir.rstrip("/"), "eval")
    ev.eval.model_a, ev.eval.model_b = model_dir, baseline
    ev.eval.answers_a = ev.eval.answers_b = None
    return ev
