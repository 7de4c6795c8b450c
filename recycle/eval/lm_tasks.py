"""Which lm-evaluation-harness tasks `eval.benchmarks` runs, and their check against the harness.

The presets are the Open LLM Leaderboard v1 as it ran them (lm-eval's 0.4 task names):

    preset         task            shots  metric       filter        the Leaderboard's
    open_llm_v1    arc_challenge   25     acc_norm     none          ARC (25-shot)
    (the papers')  hellaswag       10     acc_norm     none          HellaSwag (10-shot)
                   mmlu            5      acc          none          MMLU (5-shot): mean of 57 subjects
                   truthfulqa_mc2  0      acc          none          TruthfulQA (0-shot) mc2
    open_llm_v1_6  the four, then
                   winogrande      5      acc          none          Winogrande (5-shot)
                   gsm8k           5      exact_match  strict-match  GSM8K (5-shot): "#### <number>"

A task named without a preset runs with its own default shots and reports acc_norm when it has
one, else acc, else its first metric; unfiltered ("none") where it reports that, else its first
filter. A group (mmlu) is read as the unweighted mean of its tasks (recycle.eval.lm_harness).

`task_problem` checks every name against the installed harness's registry (and
eval.benchmark_include_path) before any model loads: pre-flight's `eval_benchmarks`.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recycle.errors import ConfigError

PREFERRED_METRICS = ("acc_norm", "acc")
UNFILTERED = "none"


@dataclass(frozen=True)
class TaskSpec:
    """One lm-eval task as the evaluation runs it: shots (None: the task's default), metric
    (None: acc_norm, else acc, else the task's first) and lm-eval filter (None: "none" where the
    task reports it, else its first filter: gsm8k's "strict-match")."""

    name: str
    shots: int | None = None
    metric: str | None = None
    filter: str | None = None


@dataclass(frozen=True)
class Preset:
    """A named list of tasks whose figures are averaged (the Leaderboard's "Average")."""

    name: str
    label: str
    tasks: tuple[TaskSpec, ...]


OPEN_LLM_V1 = (
    TaskSpec("arc_challenge", 25, "acc_norm", UNFILTERED),
    TaskSpec("hellaswag", 10, "acc_norm", UNFILTERED),
    TaskSpec("mmlu", 5, "acc", UNFILTERED),
    TaskSpec("truthfulqa_mc2", 0, "acc", UNFILTERED),
)
OPEN_LLM_V1_6 = (
    *OPEN_LLM_V1,
    TaskSpec("winogrande", 5, "acc", UNFILTERED),
    TaskSpec("gsm8k", 5, "exact_match", "strict-match"),
)
PRESETS = {
    p.name: p
    for p in (
        Preset("open_llm_v1", "Open LLM Leaderboard v1 average (4 tasks)", OPEN_LLM_V1),
        Preset("open_llm_v1_6", "Open LLM Leaderboard v1 average (6 tasks)", OPEN_LLM_V1_6),
    )
}


def task_specs(names: list[str]) -> list[TaskSpec]:
    """The tasks `eval.benchmarks` names, presets expanded; each task once.

    Raises:
        ConfigError: a name is empty or listed twice.
    """
    specs: list[TaskSpec] = []
    for name in names:
        if not name.strip():
            raise ConfigError("eval.benchmarks holds an empty name; list lm-eval task names")
        specs += PRESETS[name].tasks if name in PRESETS else [TaskSpec(name)]
    seen = [s.name for s in specs]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        raise ConfigError(
            f"eval.benchmarks lists {twice} twice (a preset, {sorted(PRESETS)}, includes it?)"
        )
    return specs


def preset_of(specs: list[TaskSpec]) -> Preset | None:
    """The largest preset whose every task ran as it declares (its average is then reported)."""
    ran = [p for p in PRESETS.values() if all(t in specs for t in p.tasks)]
    return max(ran, key=lambda p: len(p.tasks), default=None)


def by_shots(specs: list[TaskSpec]) -> dict[int | None, list[TaskSpec]]:
    """The tasks grouped by shot count: one simple_evaluate call per group."""
    groups: dict[int | None, list[TaskSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.shots, []).append(spec)
    return groups


# -- the installed harness's registry --------------------------------------------------------


@functools.cache
def installed_registry() -> dict[str, Any]:
    """lm-eval's own tasks, groups and tags (name -> its index entry). Indexing its thousands of
    YAML files takes seconds, and they do not change while a process runs: indexed once."""
    from lm_eval.tasks import TaskManager

    return dict(TaskManager(include_defaults=True).task_index)


def local_registry(include_path: str | None) -> dict[str, Any]:
    """The tasks of eval.benchmark_include_path (read afresh: a small folder a user edits)."""
    if not include_path:
        return {}
    from lm_eval.tasks import TaskManager

    return dict(TaskManager(include_path=include_path, include_defaults=False).task_index)


def registry(names: list[str], include_path: str | None) -> dict[str, Any]:
    """The entries `names` can be found among: the local folder's, and lm-eval's own unless the
    local folder holds every name (as lm-eval does, the local folder wins a name both hold)."""
    local = local_registry(include_path)
    if all(n in local for n in names):
        return local
    return installed_registry() | local


def task_problem(names: list[str], include_path: str | None) -> str | None:
    """Why `eval.benchmarks` cannot run on the installed harness, in one line; None when it can.

    Checks each task's name (a task or group, not a tag), the metric and filter a preset asks
    for (where the task's YAML lists them), and that its few-shot examples do not come from the
    split it is tested on.
    """
    specs = task_specs(names)
    if importlib.util.find_spec("lm_eval") is None:
        return "eval.benchmarks needs lm-evaluation-harness: pip install 'recycle[eval]'"
    index = registry([s.name for s in specs], include_path)
    for spec in specs:
        problem = spec_problem(spec, index)
        if problem:
            return f"eval.benchmarks: {problem}"
    return None


def spec_problem(spec: TaskSpec, index: dict[str, Any]) -> str | None:
    """Why one task cannot run as `spec` asks, among the registry entries `index`; or None."""
    entry = index.get(spec.name)
    if entry is None:
        return _unknown(spec.name, index)
    kind = entry.kind.name
    if kind == "TAG":
        some = ", ".join(sorted(entry.tags)[:4])
        return f"{spec.name!r} is an lm-eval tag (a list of tasks such as {some}); name its tasks"
    cfg = entry.cfg or {}
    if kind == "GROUP":
        listed = [m["metric"] for m in cfg.get("aggregate_metric_list") or [] if "metric" in m]
        return _metric_problem(spec, listed, [UNFILTERED])
    if kind == "TASK":
        listed = [m["metric"] for m in cfg.get("metric_list") or [] if "metric" in m]
        filters = [f["name"] for f in cfg.get("filter_list") or [] if "name" in f]
        return _metric_problem(spec, listed, filters or [UNFILTERED]) or fewshot_problem(spec, cfg)
    return None  # a Python task: its metrics are known only once it is built


def _unknown(name: str, index: dict[str, Any]) -> str:
    import lm_eval

    close = difflib.get_close_matches(name, list(index), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return (
        f"lm-eval {lm_eval.__version__} has no task, group or tag {name!r}{hint}; "
        "`lm-eval ls tasks` lists them, eval.benchmark_include_path adds a local folder"
    )


def _metric_problem(spec: TaskSpec, metrics: list[str], filters: list[str]) -> str | None:
    """The metric and filter asked for are among those the task's YAML lists (unchecked when it
    lists none: lm-eval then uses its output type's defaults)."""
    if spec.metric and metrics and spec.metric not in metrics:
        return f"{spec.name} reports {metrics}, not {spec.metric!r}"
    if spec.filter and spec.filter not in filters:
        return f"{spec.name} reports its metrics with the filters {filters}, not {spec.filter!r}"
    return None


def fewshot_problem(spec: TaskSpec, cfg: dict[str, Any]) -> str | None:
    """A task given few-shot examples takes them from the split it is tested on, or from the
    same local file (lm-eval falls back to the test split when a task has no other)."""
    shots = spec.shots if spec.shots is not None else cfg.get("num_fewshot") or 0
    fewshot_cfg = cfg.get("fewshot_config") or {}
    if shots == 0 or fewshot_cfg.get("samples") is not None:
        return None
    tested = cfg.get("test_split") or cfg.get("validation_split")
    fewshot = (
        cfg.get("fewshot_split")
        or fewshot_cfg.get("split")
        or cfg.get("training_split")
        or cfg.get("validation_split")
        or tested
    )
    if fewshot == tested:
        return (
            f"{spec.name} would draw its {shots}-shot examples from the split it tests ({tested!r})"
        )
    files = (cfg.get("dataset_kwargs") or {}).get("data_files")
    if isinstance(files, dict) and _same_file(files.get(fewshot), files.get(tested)):
        return (
            f"{spec.name} would draw its {shots}-shot examples (split {fewshot!r}) from the file "
            f"it tests ({files.get(tested)}); give the few-shot split its own file"
        )
    return None


def _same_file(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    as_set = [{str(Path(f)) for f in (x if isinstance(x, list) else [x])} for x in (a, b)]
    return bool(as_set[0] & as_set[1])
