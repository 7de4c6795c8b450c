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
eval.benchmark_include_path) before any model loads: pre-flight's `eval_benchmarks`. It reads
lm-eval's task files with lm-eval's own loader, but only those that mention a name asked for.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
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


def registry(names: list[str], include_path: str | None) -> dict[str, Any]:
    """lm-eval's registry entries (name -> its index entry: kind, config, tags) of `names`, from
    lm-eval's own tasks and eval.benchmark_include_path (which wins a name both hold, as in lm-eval).

    Built by lm-eval's own loader and indexer, but over only the YAML files whose text holds one
    of the names: indexing all of its 14,000 files (TaskManager) takes seconds to tens of
    seconds, reading them for the names a fraction of that. A file lm-eval cannot read is no
    task here either (its index skips it too).
    """
    from lm_eval.tasks._index import TaskIndex
    from lm_eval.tasks._yaml_loader import load_yaml

    named = re.compile(r"(?<![\w.\-])(?:" + "|".join(map(re.escape, names)) + r")(?![\w.\-])")
    index: dict[str, Any] = {}
    for root in task_roots(include_path):
        found: dict[str, Any] = {}
        for path in yaml_files(root):
            if not named.search(path.read_text(errors="replace")):
                continue
            try:
                cfg = load_yaml(path, resolve_func=False, recursive=True)
                TaskIndex.process_cfg(cfg, path, found)
            except Exception:  # noqa: BLE001 - as lm-eval's TaskIndex.build: not a task file
                continue
        index |= found
    return index


def task_roots(include_path: str | None) -> list[Path]:
    """lm-eval's task folder, then the local one (later folders win, as in lm-eval)."""
    import lm_eval

    own = Path(lm_eval.__file__).parent / "tasks"
    return [own, *([Path(include_path)] if include_path else [])]


def yaml_files(root: Path) -> list[Path]:
    """The YAML files under `root` in lm-eval's order (sorted; caches left out)."""
    skip = {"__pycache__", ".ipynb_checkpoints"}
    return sorted(
        (p for p in root.glob("**/*.yaml") if not skip & set(p.parts)), key=lambda p: p.as_posix()
    )


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
        problem = spec_problem(spec, index, include_path)
        if problem:
            return f"eval.benchmarks: {problem}"
    return None


def spec_problem(
    spec: TaskSpec, index: dict[str, Any], include_path: str | None = None
) -> str | None:
    """Why one task cannot run as `spec` asks, among the registry entries `index`; or None."""
    entry = index.get(spec.name)
    if entry is None:
        return _unknown(spec.name, include_path)
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


def _unknown(name: str, include_path: str | None) -> str:
    import lm_eval

    close = difflib.get_close_matches(name, declared_names(include_path), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return (
        f"lm-eval {lm_eval.__version__} has no task, group or tag {name!r}{hint}; "
        "`lm-eval ls tasks` lists them, eval.benchmark_include_path adds a local folder"
    )


def declared_names(include_path: str | None) -> list[str]:
    """Every name a `task:`, `group:` or `tag:` line declares (for "did you mean")."""
    line = re.compile(r"^(?:task|group|tag):[ \t]*[\"']?([\w.\-]+)", re.MULTILINE)
    return sorted(
        {n for root in task_roots(include_path) for p in yaml_files(root)
         for n in line.findall(p.read_text(errors="replace"))}
    )  # fmt: skip


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
