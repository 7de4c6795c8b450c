"""Open LLM Leaderboard (v1) and other lm-evaluation-harness tasks on both models, through its API.

The tasks are lm-eval's own (`lm_eval.simple_evaluate`); nothing here re-implements one. The
preset `open_llm_v1` is the Leaderboard v1 the papers report (average of four figures):

    task             shots  metric
    arc_challenge    25     acc_norm
    hellaswag        10     acc_norm
    mmlu             5      acc       (lm-eval's group: the mean over its 57 subjects)
    truthfulqa_mc2   0      acc       (lm-eval's name for mc2)

Tasks are grouped by shot count, one `simple_evaluate` call per group; each model is evaluated in
its own Ray task holding the GPUs it needs (HF backend). A task named without the preset runs
with its own default shots and reports acc_norm when it has one, else acc.

OUTPUT/benchmarks/results.json:
    {"preset", "tasks": {task: {"shots", "metric"}},
     "a" / "b": {"model", "tasks": {task: {"metric", "value", "stderr", "samples"}}, "average"},
     "difference": {task: A - B, "average": A - B}}
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from recycle.errors import ConfigError
from recycle.storage import local_folder

PRESET = "open_llm_v1"
RESULTS = "results.json"
PREFERRED_METRICS = ("acc_norm", "acc")


@dataclass(frozen=True)
class TaskSpec:
    """One lm-eval task as the evaluation runs it: shots (None: the task's default) and metric
    (None: acc_norm when the task has it, else acc)."""

    name: str
    shots: int | None = None
    metric: str | None = None


OPEN_LLM_V1 = (
    TaskSpec("arc_challenge", 25, "acc_norm"),
    TaskSpec("hellaswag", 10, "acc_norm"),
    TaskSpec("mmlu", 5, "acc"),
    TaskSpec("truthfulqa_mc2", 0, "acc"),
)


def task_specs(names: list[str]) -> list[TaskSpec]:
    """The tasks `eval.benchmarks` names, the preset expanded; each task once.

    Raises:
        ConfigError: a name is empty or listed twice.
    """
    specs: list[TaskSpec] = []
    for name in names:
        if not name.strip():
            raise ConfigError("eval.benchmarks holds an empty name; list lm-eval task names")
        specs += OPEN_LLM_V1 if name == PRESET else [TaskSpec(name)]
    seen = [s.name for s in specs]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        raise ConfigError(f"eval.benchmarks lists {twice} twice (the preset {PRESET} includes it?)")
    return specs


def by_shots(specs: list[TaskSpec]) -> dict[int | None, list[TaskSpec]]:
    """The tasks grouped by shot count: one simple_evaluate call per group."""
    groups: dict[int | None, list[TaskSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.shots, []).append(spec)
    return groups


def task_manager(names: list[str], include_path: str | None) -> Any:
    """lm-eval's TaskManager: the local folder alone when it holds every task (indexing lm-eval's
    thousands of task files takes a while), else the local folder and lm-eval's tasks."""
    from lm_eval.tasks import TaskManager

    if include_path:
        local = TaskManager(include_path=include_path, include_defaults=False)
        if all(n in local.all_tasks for n in names):
            return local
    return TaskManager(include_path=include_path)


def pick(result: dict[str, Any], spec: TaskSpec) -> dict[str, Any]:
    """{"metric", "value", "stderr"} of one task's lm-eval result (keys like "acc_norm,none").

    Raises:
        KeyError: the task reported none of the metrics asked for.
    """
    wanted = (spec.metric,) if spec.metric else PREFERRED_METRICS
    for metric in wanted:
        key = f"{metric},none"
        if key in result:
            stderr = result.get(f"{metric}_stderr,none")
            return {
                "metric": metric,
                "value": float(result[key]),
                "stderr": float(stderr) if isinstance(stderr, (int, float)) else None,
            }
    raise KeyError(f"lm-eval task {spec.name} reported none of {list(wanted)}: {sorted(result)}")


def evaluate_model(
    model: str, specs: list[TaskSpec], settings: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each task's metric, stderr and sample counts for one model (HF backend), one
    simple_evaluate call per shot count. `settings`: include_path, limit, batch_size, device."""
    import lm_eval

    manager = task_manager([s.name for s in specs], settings["include_path"])
    out: dict[str, dict[str, Any]] = {}
    for shots, group in by_shots(specs).items():
        res = lm_eval.simple_evaluate(
            model="hf",
            model_args={"pretrained": local_folder(model)},
            tasks=[s.name for s in group],
            num_fewshot=shots,
            limit=settings["limit"],
            batch_size=settings["batch_size"],
            device=settings["device"],
            task_manager=manager,
            log_samples=True,
        )
        for spec in group:
            out[spec.name] = {
                **pick(res["results"][spec.name], spec),
                **sample_counts(res, spec.name),
            }
    return out


def sample_counts(res: dict[str, Any], task: str) -> dict[str, int]:
    """Samples asked (lm-eval's effective count, summed over a group's subtasks) and answered
    (the per-sample records it logged)."""
    leaves = _leaf_tasks(res.get("group_subtasks", {}), task)
    asked = sum(res["n-samples"][t]["effective"] for t in leaves if t in res["n-samples"])
    answered = sum(len(res["samples"].get(t, [])) for t in leaves)
    return {"samples": asked, "answered": answered}


def _leaf_tasks(groups: dict[str, list[str]], task: str) -> list[str]:
    """The tasks under a group, groups of groups included (mmlu -> mmlu_humanities -> ...)."""
    if not groups.get(task):
        return [task]
    return [leaf for sub in groups[task] for leaf in _leaf_tasks(groups, sub)]


def lm_eval_settings(include_path: str | None, limit: int | None, batch_size: int, gpus: float):
    """What evaluate_model needs besides the model and its tasks."""
    return {
        "include_path": include_path,
        "limit": limit,
        "batch_size": batch_size,
        "device": "cuda" if gpus > 0 else "cpu",
    }


def evaluate_in_ray(
    models: dict[str, str],
    specs: list[TaskSpec],
    settings: dict[str, Any],
    gpus: float,
    cpus: float,
) -> dict[str, dict[str, dict[str, Any]]]:
    """evaluate_model of each side in its own Ray task (holding `gpus` GPUs), side by side."""
    import ray

    remote = ray.remote(num_gpus=gpus, num_cpus=cpus, max_retries=0)(evaluate_model)
    refs = {side: remote.remote(model, specs, settings) for side, model in models.items()}
    return {side: ray.get(ref) for side, ref in refs.items()}


def average(tasks: dict[str, dict[str, Any]], specs: list[TaskSpec]) -> float | None:
    """The Leaderboard v1 average (mean of the preset's four figures) when the preset ran."""
    names = [s.name for s in OPEN_LLM_V1]
    if not all(s in specs for s in OPEN_LLM_V1):
        return None
    return sum(tasks[n]["value"] for n in names) / len(names)


def results_table(
    models: dict[str, str], scores: dict[str, dict[str, dict[str, Any]]], specs: list[TaskSpec]
) -> dict[str, Any]:
    """results.json: each side's task figures and average, and A - B of each."""
    sides = {
        side: {
            "model": models[side],
            "tasks": scores[side],
            "average": average(scores[side], specs),
        }
        for side in models
    }
    diff: dict[str, float | None] = {
        s.name: scores["a"][s.name]["value"] - scores["b"][s.name]["value"] for s in specs
    }
    avg_a, avg_b = sides["a"]["average"], sides["b"]["average"]
    diff["average"] = None if avg_a is None else avg_a - avg_b
    return {
        "preset": PRESET if all(s in specs for s in OPEN_LLM_V1) else None,
        "tasks": {s.name: {"shots": s.shots, "metric": s.metric} for s in specs},
        **sides,
        "difference": diff,
    }


def results_markdown(results: dict[str, Any], names: dict[str, str]) -> list[str]:
    """The report's table: each task's figure for A and B (x100, +- stderr) and A - B."""
    lines = [
        f"| lm-eval task | shots | metric | {names['a']} (A) | {names['b']} (B) | A - B |",
        "|---|---|---|---|---|---|",
    ]
    for task, spec in results["tasks"].items():
        a, b = results["a"]["tasks"][task], results["b"]["tasks"][task]
        lines.append(
            f"| {task} | {spec['shots'] if spec['shots'] is not None else 'default'} "
            f"| {a['metric']} | {_pct(a)} | {_pct(b)} | {100 * results['difference'][task]:+.2f} |"
        )
    if results["difference"]["average"] is not None:
        avg_a, avg_b = results["a"]["average"], results["b"]["average"]
        lines.append(
            f"| **Open LLM v1 average** | | | {100 * avg_a:.2f} | {100 * avg_b:.2f} "
            f"| {100 * results['difference']['average']:+.2f} |"
        )
    return lines


def _pct(task: dict[str, Any]) -> str:
    err = "" if task["stderr"] is None else f" ± {100 * task['stderr']:.2f}"
    return f"{100 * task['value']:.2f}{err}"


def results_path(out_dir: str) -> str:
    """OUTPUT/benchmarks/results.json."""
    return posixpath.join(out_dir.rstrip("/"), RESULTS)
