"""lm-evaluation-harness tasks on both models, through its API, read the Open LLM Leaderboard's way.

The tasks are lm-eval's own (`lm_eval.simple_evaluate`); nothing here re-implements one. Which
tasks, shots and metrics (the presets `open_llm_v1` and `open_llm_v1_6`) and their check against
the installed harness live in recycle.eval.lm_tasks; this module runs them and reads the figures.

Tasks are grouped by shot count, one `simple_evaluate` call per group; each model is evaluated in
its own Ray task holding the GPUs it needs, on lm-eval's HF backend, or its vLLM backend where
eval.backend resolves to vllm. A figure is read with its filter (`exact_match,strict-match`). A
group is read as the Leaderboard read MMLU: the unweighted mean of its tasks' figures (57
subjects), not lm-eval's group figure, which weights each subject by its number of questions.

OUTPUT/benchmarks/results.json:
    {"preset", "tasks": {task: {"shots", "metric", "filter"}},
     "a" / "b": {"model", "tasks": {task: {"metric", "filter", "value", "stderr", "subtasks",
                                           "samples", "answered"}}, "average"},
     "difference": {task: A - B, "average": A - B}}
"""

from __future__ import annotations

import math
import posixpath
from typing import Any

from recycle.eval.lm_tasks import (
    PREFERRED_METRICS,
    PRESETS,
    UNFILTERED,
    TaskSpec,
    by_shots,
    preset_of,
)
from recycle.storage import local_folder

RESULTS = "results.json"


def task_manager(names: list[str], include_path: str | None) -> Any:
    """lm-eval's TaskManager: the local folder alone when it holds every task (indexing lm-eval's
    thousands of task files takes a while), else the local folder and lm-eval's tasks."""
    from lm_eval.tasks import TaskManager

    if include_path:
        local = TaskManager(include_path=include_path, include_defaults=False)
        if all(n in local.all_tasks for n in names):
            return local
    return TaskManager(include_path=include_path)


def metric_key(result: dict[str, Any], spec: TaskSpec) -> tuple[str, str]:
    """(metric, filter) of one task's lm-eval result (keys "metric,filter") that `spec` asks for:
    its own, else acc_norm, acc or the first metric reported; "none" where reported, else the
    first filter.

    Raises:
        KeyError: the task reported none of the metrics (or not the filter) asked for.
    """
    reported = [tuple(k.split(",", 1)) for k in result if "," in k and "_stderr," not in k]
    metrics = list(dict.fromkeys(m for m, _ in reported))
    wanted = (spec.metric,) if spec.metric else (*PREFERRED_METRICS, *metrics[:1])
    for metric in wanted:
        filters = [f for m, f in reported if m == metric]
        if spec.filter:
            filters = [f for f in filters if f == spec.filter]
        elif UNFILTERED in filters:
            filters = [UNFILTERED]
        if filters:
            return metric, filters[0]
    asked = f"{list(wanted)}" + (f" with filter {spec.filter!r}" if spec.filter else "")
    raise KeyError(f"lm-eval task {spec.name} reported none of {asked}: {sorted(result)}")


def pick(result: dict[str, Any], spec: TaskSpec) -> dict[str, Any]:
    """{"metric", "filter", "value", "stderr"} of one task's lm-eval result.

    Raises:
        KeyError: as `metric_key`.
    """
    metric, filt = metric_key(result, spec)
    stderr = result.get(f"{metric}_stderr,{filt}")
    return {
        "metric": metric,
        "filter": filt,
        "value": float(result[f"{metric},{filt}"]),
        "stderr": float(stderr) if isinstance(stderr, (int, float)) else None,
    }


def read_task(res: dict[str, Any], spec: TaskSpec) -> dict[str, Any]:
    """One task's figure from simple_evaluate's output: a task's own, or for a group the
    unweighted mean of its tasks' figures (stderr: the mean's, subjects independent).

    Raises:
        KeyError: a task (or one of the group's) lacks the metric asked for.
    """
    leaves = _leaf_tasks(res.get("group_subtasks", {}), spec.name)
    if leaves == [spec.name]:
        return {**pick(res["results"][spec.name], spec), "subtasks": 1}
    first = res["results"][leaves[0]]
    metric, filt = metric_key(first, spec)
    each = [pick(res["results"][t], TaskSpec(t, metric=metric, filter=filt)) for t in leaves]
    errors = [p["stderr"] for p in each]
    stderr = None if None in errors else math.sqrt(sum(e * e for e in errors)) / len(each)
    value = sum(p["value"] for p in each) / len(each)
    return {"metric": metric, "filter": filt, "value": value, "stderr": stderr,
            "subtasks": len(each)}  # fmt: skip


def evaluate_model(
    model: str, specs: list[TaskSpec], settings: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each task's figure, stderr and sample counts for one model, one simple_evaluate call per
    shot count. `settings`: as `lm_eval_settings` builds them."""
    import lm_eval

    manager = task_manager([s.name for s in specs], settings["include_path"])
    out: dict[str, dict[str, Any]] = {}
    for shots, group in by_shots(specs).items():
        res = lm_eval.simple_evaluate(
            **model_arguments(model, settings),
            tasks=[s.name for s in group],
            num_fewshot=shots,
            limit=settings["limit"],
            task_manager=manager,
            log_samples=True,
        )
        for spec in group:
            out[spec.name] = {**read_task(res, spec), **sample_counts(res, spec.name)}
    return out


def model_arguments(model: str, settings: dict[str, Any]) -> dict[str, Any]:
    """simple_evaluate's model, model_args, batch_size and device for lm-eval's backend: "hf"
    (transformers, the Leaderboard's), or "vllm" (one engine over the task's GPUs, eval's
    vllm_engine_kwargs passed to it, batches as vLLM schedules them)."""
    folder = local_folder(model)
    if settings["backend"] != "vllm":
        return {"model": "hf", "model_args": {"pretrained": folder},
                "batch_size": settings["batch_size"], "device": settings["device"]}  # fmt: skip
    engine = {"pretrained": folder, "tensor_parallel_size": max(1, int(settings["gpus"])),
              **settings["engine_kwargs"]}  # fmt: skip
    return {"model": "vllm", "model_args": engine, "batch_size": "auto", "device": None}


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


def lm_eval_settings(
    include_path: str | None,
    limit: int | None,
    batch_size: int,
    gpus: float,
    backend: str = "hf",
    engine_kwargs: dict[str, Any] | None = None,
    env_vars: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What evaluate_model needs besides the model and its tasks (`backend`: "hf" or "vllm";
    `engine_kwargs` and `env_vars`: vLLM's, from eval.vllm_engine_kwargs and eval.vllm_env_vars)."""
    return {
        "include_path": include_path,
        "limit": limit,
        "batch_size": batch_size,
        "device": "cuda" if gpus > 0 else "cpu",
        "backend": backend,
        "gpus": gpus,
        "engine_kwargs": dict(engine_kwargs or {}),
        "env_vars": dict(env_vars or {}),
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

    env = {"runtime_env": {"env_vars": settings["env_vars"]}} if settings["env_vars"] else {}
    remote = ray.remote(num_gpus=gpus, num_cpus=cpus, max_retries=0, **env)(evaluate_model)
    refs = {side: remote.remote(model, specs, settings) for side, model in models.items()}
    return {side: ray.get(ref) for side, ref in refs.items()}


def average(tasks: dict[str, dict[str, Any]], specs: list[TaskSpec]) -> float | None:
    """The Leaderboard's average (mean of the preset's figures) when a preset ran, else None."""
    preset = preset_of(specs)
    if preset is None:
        return None
    return sum(tasks[t.name]["value"] for t in preset.tasks) / len(preset.tasks)


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
    preset = preset_of(specs)
    return {
        "preset": preset.name if preset else None,
        "tasks": {
            s.name: {"shots": s.shots, "metric": s.metric, "filter": s.filter} for s in specs
        },  # fmt: skip
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
            f"| {metric_label(a)} | {_pct(a)} | {_pct(b)} "
            f"| {100 * results['difference'][task]:+.2f} |"
        )
    if results["difference"]["average"] is not None:
        avg_a, avg_b = results["a"]["average"], results["b"]["average"]
        lines.append(
            f"| **{PRESETS[results['preset']].label}** | | | {100 * avg_a:.2f} | {100 * avg_b:.2f} "
            f"| {100 * results['difference']['average']:+.2f} |"
        )
    return lines


def metric_label(task: dict[str, Any]) -> str:
    """ "acc", "exact_match (strict-match)", "acc (mean of 57 tasks)": what a figure is."""
    label = task["metric"]
    if task.get("filter", UNFILTERED) != UNFILTERED:
        label += f" ({task['filter']})"
    if task.get("subtasks", 1) > 1:
        label += f" (mean of {task['subtasks']} tasks)"
    return label


def _pct(task: dict[str, Any]) -> str:
    err = "" if task["stderr"] is None else f" ± {100 * task['stderr']:.2f}"
    return f"{100 * task['value']:.2f}{err}"


def results_path(out_dir: str) -> str:
    """OUTPUT/benchmarks/results.json."""
    return posixpath.join(out_dir.rstrip("/"), RESULTS)
