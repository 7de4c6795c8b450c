"""Each benchmark's steps for `recycle eval` (declared in recycle.commands.benchmarks): thin
adapters from the config and the two sides to the module that does the work, each returning its
manifest section ("ran", "asked" = "answered" + "unanswered" by reason, "verdict", "outputs")."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from recycle.commands.generate import run_generate
from recycle.commands.judge import run_judge
from recycle.config import RecycleConfig
from recycle.errors import ConfigError
from recycle.eval import lm_harness as H
from recycle.eval import lm_tasks as T
from recycle.eval.run_generate import MODEL_OUTPUTS
from recycle.eval.sides import SIDES, check_sides
from recycle.preflight import Preflight
from recycle.storage import filesystem


@dataclass
class Sides:
    """Models A and B as the benchmarks see them: model folders (None when only answers are
    given), names, the answers each generation produced (by benchmark), and the pre-flight
    policy the generations and the judge inherit from the evaluation."""

    models: dict[str, str | None]
    names: dict[str, str]
    generation: dict[str, dict[str, Any]] = field(default_factory=dict)
    preflight: Preflight = field(default_factory=Preflight)


def section(ran: dict[str, Any], asked: int, answered: int, unanswered: dict[str, int]) -> dict:
    """A benchmark's manifest section with its accounting and whether it adds up."""
    accounted = answered + sum(unanswered.values())
    return {
        "ran": ran,
        "asked": asked,
        "answered": answered,
        "unanswered": unanswered,
        "invariant": {"ok": accounted == asked, "input": asked, "accounted": accounted},
    }


def require_models(cfg: RecycleConfig, what: str) -> None:
    """Both sides need a model folder (answers alone do not do).

    Raises:
        ConfigError: naming the side without eval.model_X.
    """
    for side in SIDES:
        if not getattr(cfg.eval, f"model_{side}"):
            raise ConfigError(f"eval.model_{side} must be set: {what} runs the model itself")


# -- pairwise: the papers' judge on eval.sets --------------------------------------------------


def check_pairwise(cfg: RecycleConfig) -> None:
    """Each side has a model to generate with, or its answers."""
    check_sides(cfg)


def answers_for(cfg: RecycleConfig, side: str, sides: Sides) -> tuple[str, dict | None]:
    """(answers file of one side, its generation manifest or None when the answers were given)."""
    given = getattr(cfg.eval, f"answers_{side}")
    if given:
        return given, None
    out = posixpath.join(cfg.output.dir.rstrip("/"), f"answers_{side}")
    template = getattr(cfg.eval, f"template_{side}")
    manifest = run_generate(
        cfg, sides.models[side], out, template, sides.names[side], preflight=sides.preflight
    )
    return posixpath.join(out, MODEL_OUTPUTS), manifest


def run_pairwise(cfg: RecycleConfig, sides: Sides, out_dir: str) -> dict[str, Any]:
    """Answers of both sides on eval.sets (generated or given), then the judge, both orders.

    Questions asked: those the generation loaded (or, with both answer files given, the pairs);
    unanswered: left by the generation (by reason, from a generated side) or by the judge.
    """
    answers, generated = {}, {}
    for side in SIDES:
        answers[side], generated[side] = answers_for(cfg, side, sides)
    judged = run_judge(cfg, answers["a"], answers["b"], out_dir, preflight=sides.preflight)
    gen = next((g for g in generated.values() if g), None)
    unanswered = {
        f"generation/{k}": v for k, v in (gen or {}).get("counts", {}).get("rejected", {}).items()
    }
    unanswered |= {f"judge/{k}": v for k, v in judged["counts"]["rejected"].items()}
    asked = gen["counts"]["input"] if gen else judged["counts"]["input"]
    ran = {
        "sets": cfg.eval.sets,
        "models": {s: sides.models[s] for s in SIDES},
        "answers": answers,
        "judge": {"model": cfg.judge.model, "base_url": cfg.judge.base_url},
    }
    out = section(ran, asked, judged["counts"]["kept"], unanswered)
    sides.generation["pairwise"] = {s: g["generation"] if g else None for s, g in generated.items()}
    return {**out, "judge": judged["judge"], "verdict": judged["verdict"],
            "outputs": {"summary": posixpath.join(out_dir, "summary.json")}}  # fmt: skip


def pairwise_lines(verdict: dict[str, Any], names: dict[str, str]) -> list[str]:
    """The pairwise judge's verdict: wins, ties, losses, raw and length-controlled win rates."""
    v = verdict["pairwise"]
    return [
        f"pairwise judge: {v['win']} wins, {v['tie']} ties, {v['lose']} losses of {v['n']}; "
        f"win rate {_f(v['win_rate'])} (95% CI {v['win_rate_ci95']}), length-controlled "
        f"{_f(v['win_rate_lc'])} (95% CI {v['win_rate_lc_ci95']}); 1 = parity"
    ]


# -- lm_eval: Open LLM Leaderboard v1 and other lm-evaluation-harness tasks ----------------------


def check_lm_eval(cfg: RecycleConfig) -> None:
    """Both models are folders; the task names are valid; lm-eval is installed.

    Raises:
        ConfigError: a missing model, a bad task list, or lm-eval not installed.
    """
    require_models(cfg, "eval.benchmarks")
    T.task_specs(cfg.eval.benchmarks)
    try:
        import lm_eval  # noqa: F401
    except ImportError as err:
        raise ConfigError(
            "eval.benchmarks needs lm-evaluation-harness: pip install 'recycle[eval]'"
        ) from err


def run_lm_eval(cfg: RecycleConfig, sides: Sides, out_dir: str) -> dict[str, Any]:
    """Both models on the tasks (a Ray task each), results.json; samples asked = answered."""
    from recycle.student.scoring_actor import resolve_num_gpus

    specs = T.task_specs(cfg.eval.benchmarks)
    gpus = resolve_num_gpus(
        cfg.student.model_copy(update={"num_gpus_per_actor": cfg.eval.num_gpus_per_actor})
    )
    settings = H.lm_eval_settings(cfg.eval.benchmark_include_path, cfg.eval.benchmark_limit,
                                  cfg.eval.benchmark_batch_size, gpus, lm_eval_backend(cfg),
                                  cfg.eval.vllm_engine_kwargs, cfg.eval.vllm_env_vars)  # fmt: skip
    models = {s: str(sides.models[s]) for s in SIDES}
    scores = H.evaluate_in_ray(models, specs, settings, gpus, cfg.eval.num_cpus_per_actor)
    results = H.results_table(models, scores, specs)
    path = H.results_path(out_dir)
    _write_json(path, results)
    asked = sum(t["samples"] for s in SIDES for t in scores[s].values())
    answered = sum(t["answered"] for s in SIDES for t in scores[s].values())
    ran = {"tasks": results["tasks"], "preset": results["preset"], "models": models,
           "limit": cfg.eval.benchmark_limit, "backend": settings["backend"]}  # fmt: skip
    verdict = {s: {"tasks": {k: t["value"] for k, t in scores[s].items()},
                   "average": results[s]["average"]} for s in SIDES}  # fmt: skip
    verdict["preset"] = results["preset"]
    out = section(
        ran, asked, answered, {"missing_samples": asked - answered} if asked > answered else {}
    )
    return {**out, "verdict": {**verdict, "difference": results["difference"]},
            "outputs": {"results": path}}  # fmt: skip


def lm_eval_backend(cfg: RecycleConfig) -> str:
    """lm-eval's backend: vllm where eval.backend says vllm, else hf (the Leaderboard's; 'auto'
    keeps lm-eval on it, whose log-likelihoods vLLM's batching can move slightly)."""
    return "vllm" if cfg.eval.backend == "vllm" else "hf"


def lm_eval_lines(verdict: dict[str, Any], names: dict[str, str]) -> list[str]:
    """Each task's figure for A and B and A - B (x100), the Leaderboard average when it ran."""
    v = verdict["lm_eval"]
    lines = [
        f"lm-eval {task}: A {100 * v['a']['tasks'][task]:.2f}, B {100 * v['b']['tasks'][task]:.2f}, "
        f"A - B {100 * diff:+.2f}"
        for task, diff in v["difference"].items()
        if task != "average"
    ]
    if v["difference"]["average"] is not None:
        label = T.PRESETS[v["preset"]].label if v.get("preset") else "average"
        lines.append(
            f"{label}: A {100 * v['a']['average']:.2f}, "
            f"B {100 * v['b']['average']:.2f}, A - B {100 * v['difference']['average']:+.2f}"
        )
    return lines


# -- alpaca_eval: the alpaca_eval package, its annotator at judge.base_url ------------------------


def check_alpaca_eval(cfg: RecycleConfig) -> None:
    """Both models are folders; alpaca_eval is installed.

    Raises:
        ConfigError: a missing model or alpaca_eval not installed.
    """
    from recycle.eval import alpaca

    require_models(cfg, "eval.alpaca_eval")
    alpaca.check_installed()


def run_alpaca_eval(cfg: RecycleConfig, sides: Sides, out_dir: str) -> dict[str, Any]:
    """Answers of both models on AlpacaEval's prompts (`recycle generate`), matched to the
    prompts by instruction (an unanswered prompt: an explicit empty answer), then the package."""
    from recycle.eval import alpaca

    acfg = cfg.eval.alpaca_eval
    prompts = alpaca.prompts_file(acfg, out_dir)
    rows = None
    if acfg.version == "2.0":  # refused before any generation when a prompt has no row
        rows = alpaca.rows_by_instruction(alpaca.version_reference(acfg, out_dir))
        alpaca.check_known_prompts(prompts, rows)
    gen_cfg = cfg.model_copy(deep=True)
    gen_cfg.eval.sets, gen_cfg.eval.limit_per_set = [prompts], None
    generated, answers, empty = {}, {}, {}
    for side in SIDES:
        folder = posixpath.join(out_dir, f"answers_{side}")
        template = getattr(cfg.eval, f"template_{side}")
        generated[side] = run_generate(gen_cfg, sides.models[side], folder, template,
                                       sides.names[side], preflight=sides.preflight)  # fmt: skip
        answers[side], empty[side] = alpaca.package_answers(
            prompts, posixpath.join(folder, MODEL_OUTPUTS), sides.names[side]
        )
        counts = generated[side]["counts"]
        alpaca.say_empty_answers(
            sides.names[side], empty[side], counts["input"], counts["rejected"]
        )
    results = alpaca.evaluate(cfg, answers, sides.names, out_dir, empty, rows)
    return alpaca.section_of(cfg, sides, generated, results, out_dir, section)


def alpaca_eval_lines(verdict: dict[str, Any], names: dict[str, str]) -> list[str]:
    """AlpacaEval win rate (and LC for 2.0) of A and of B against the reference model."""
    from recycle.eval import alpaca

    return alpaca.verdict_lines(verdict["alpaca_eval"])


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _write_json(path: str, data: dict[str, Any]) -> None:
    fs, p = filesystem(path)
    fs.create_dir(posixpath.dirname(p), recursive=True)
    with fs.open_output_stream(p) as f:
        f.write(json.dumps(data, indent=2).encode("utf-8"))
