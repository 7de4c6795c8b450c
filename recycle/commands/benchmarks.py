"""The benchmarks of `recycle eval` as one table: what each needs, checks, runs and reports.

Each benchmark is one `Benchmark` in `BENCHMARKS`. `recycle eval` (and the end-to-end job's
evaluation stage, which calls it) runs every benchmark the config asks for, in table order, and
writes one manifest; the evaluation report and the printed verdict read the same table. Adding a
benchmark is one module (its steps) and one entry here.

    benchmark    asked for by            needs                 module
    pairwise     eval.sets (non-empty)   models or answers     recycle.commands.judge (+ generate)
    lm_eval      eval.benchmarks         models                recycle.eval.lm_harness
    alpaca_eval  eval.alpaca_eval        models                recycle.eval.alpaca

Each benchmark's `run` returns its manifest section: what ran ("ran": on which models, with which
judge or tasks), its accounting ("asked" = "answered" + "unanswered" by reason: questions for the
judges, samples for lm-eval) and its "verdict". The runner checks each section's accounting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recycle.commands import eval_steps as S
from recycle.config import RecycleConfig


@dataclass(frozen=True)
class Benchmark:
    """One benchmark's declaration.

    Attributes:
        name: its key in the manifest, the verdict and the output folder (OUTPUT/<folder>).
        folder: where it writes under output.dir.
        wanted: whether the config asks for it.
        check: start-up checks (before Ray, before any model or judge is paid).
        run: (config, the two sides, its folder) -> its manifest section.
        lines: its verdict as printed lines and markdown report lines.
    """

    name: str
    folder: str
    wanted: Callable[[RecycleConfig], bool]
    check: Callable[[RecycleConfig], None]
    run: Callable[[RecycleConfig, S.Sides, str], dict[str, Any]]
    lines: Callable[[dict[str, Any], dict[str, str]], list[str]]


BENCHMARKS = (
    Benchmark(
        "pairwise",
        "judge",
        lambda cfg: bool(cfg.eval.sets),
        S.check_pairwise,
        S.run_pairwise,
        S.pairwise_lines,
    ),
    Benchmark(
        "lm_eval",
        "benchmarks",
        lambda cfg: bool(cfg.eval.benchmarks),
        S.check_lm_eval,
        S.run_lm_eval,
        S.lm_eval_lines,
    ),
    Benchmark(
        "alpaca_eval",
        "alpaca_eval",
        lambda cfg: cfg.eval.alpaca_eval is not None,
        S.check_alpaca_eval,
        S.run_alpaca_eval,
        S.alpaca_eval_lines,
    ),
)


def wanted(cfg: RecycleConfig) -> list[Benchmark]:
    """The benchmarks the config asks for, in table order."""
    return [b for b in BENCHMARKS if b.wanted(cfg)]


def verdict_lines(verdict: dict[str, Any], names: dict[str, str]) -> list[str]:
    """Every benchmark's verdict lines (report and console), in table order."""
    return [line for b in BENCHMARKS if b.name in verdict for line in b.lines(verdict, names)]
