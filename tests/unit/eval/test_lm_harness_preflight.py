"""eval.benchmarks checked at pre-flight against the installed lm-eval's registry: a wrong task
name, a tag, a metric or filter the task does not report, few-shot examples drawn from the
questions tested; each one line and exit 2, before Ray starts or a model loads."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from recycle.cli.main import main
from recycle.eval import lm_tasks as T
from recycle.testing.local_tasks import TASK, write_tiny_mc_task
from tests.unit.test_preflight import SCRIPT  # a command line, then no heavy import

# every check here reads the installed harness's task files (the lowest-versions CI environment
# has no eval extra)
pytest.importorskip("lm_eval", reason="needs the eval extra (lm-eval)")

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def models(tmp_path: Path) -> dict[str, str]:
    """Two folders shaped like models (pre-flight reads no weights)."""
    out = {}
    for side in ("a", "b"):
        folder = tmp_path / f"model_{side}"
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(b"")
        out[side] = str(folder)
    return out


@pytest.fixture
def no_ray(monkeypatch):
    """Starting Ray fails the test: the check must stop the command before it."""
    import recycle.commands.runner as runner

    def refuse(*args, **kwargs):
        raise AssertionError("Ray was started: the task was not checked at pre-flight")

    monkeypatch.setattr(runner, "init_ray", refuse)


def _eval(models: dict[str, str], out: Path, *settings: str) -> list[str]:
    return ["eval", "--output", str(out), f"eval.model_a={models['a']}",
            f"eval.model_b={models['b']}", "eval.sets=[]", *settings]  # fmt: skip


def test_an_unknown_task_stops_recycle_eval_at_preflight_with_exit_2(models, tmp_path):
    """The command line in a fresh interpreter (a user's shell): one line, exit 2, and neither
    Ray nor torch imported before it ended."""
    argv = _eval(models, tmp_path / "out", "eval.benchmarks=[a_task_that_does_not_exist]")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True,
                          cwd=REPO, timeout=300)  # fmt: skip
    seconds = time.perf_counter() - t0
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1, done.stderr
    assert "'a_task_that_does_not_exist'" in err[0] and "lm-eval 0.4.13 has no task" in err[0]
    print(f"pre-flight refused the unknown task in {seconds:.1f} s (interpreter start included)")


def test_the_presets_match_the_installed_harness_and_their_mistakes_would_not():
    assert T.task_problem(["open_llm_v1_6"], None) is None  # names, metrics, filters, splits
    wrong = {
        T.TaskSpec("gsm8k", 5, "exact_match", "strict"): "filters ['strict-match', 'flexible-extract']",
        T.TaskSpec("truthfulqa_mc2", 0, "mc2"): "reports ['acc'], not 'mc2'",
        T.TaskSpec("ai2_arc"): "'ai2_arc' is an lm-eval tag",
        T.TaskSpec("hellaswagg"): "did you mean hellaswag",
    }  # fmt: skip
    index = T.registry([s.name for s in wrong], None)
    for spec, words in wrong.items():
        assert words in T.spec_problem(spec, index), spec


def test_a_local_task_drawing_few_shot_examples_from_its_test_file_is_refused(
    models, no_ray, tmp_path, capsys
):
    tasks = write_tiny_mc_task(tmp_path / "tasks")
    assert T.task_problem([TASK], str(tasks)) is None  # its few-shot file is its own
    task_yaml = tasks / f"{TASK}.yaml"
    cfg = yaml.safe_load(task_yaml.read_text())
    cfg["dataset_kwargs"]["data_files"]["train"] = cfg["dataset_kwargs"]["data_files"]["test"]
    task_yaml.write_text(yaml.safe_dump(cfg))
    argv = _eval(models, tmp_path / "out", f"eval.benchmarks=[{TASK}]",
                 f"eval.benchmark_include_path={tasks}")  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{TASK} would draw its 2-shot examples (split 'train') from the file it tests" in err


def test_the_check_reads_only_the_task_files_that_name_a_task_not_lm_evals_whole_index(
    monkeypatch,
):
    """lm-eval's TaskManager indexes its 14,000 task files (5 to 35 s here): not at pre-flight."""
    from lm_eval.tasks import TaskManager

    def refuse(*args, **kwargs):
        raise AssertionError("pre-flight built lm-eval's whole task index")

    monkeypatch.setattr(TaskManager, "__init__", refuse)
    t0 = time.perf_counter()
    assert T.task_problem(["open_llm_v1_6"], None) is None
    print(f"the six Leaderboard tasks checked in {time.perf_counter() - t0:.1f} s")
