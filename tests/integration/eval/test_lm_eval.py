"""`recycle eval` with lm-evaluation-harness tasks, offline: a local multiple-choice task on two
tiny models, each in its own Ray task, gives exactly what `lm_eval.simple_evaluate` gives alone,
its 2-shot examples drawn from their own file, never from the questions tested."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recycle.cli.main import main
from recycle.rundir import read_manifest
from recycle.testing.local_tasks import FEWSHOT, TASK, write_tiny_mc_task
from tests.support import tiny_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def other_model(tiny_artifacts: Path, tiny_tokenizer_dir: Path) -> Path:
    return tiny_model.build_tiny_model(tiny_artifacts, tiny_tokenizer_dir, seed=1)


def _alone(model: Path, tasks: Path) -> dict:
    import lm_eval
    from lm_eval.tasks import TaskManager

    res = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": str(model)}, tasks=[TASK], num_fewshot=None,
        batch_size=8, device="cpu", task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
        log_samples=True,
    )  # fmt: skip
    return res


def _questions(path: Path) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text().splitlines()]


def test_the_few_shot_examples_come_from_their_own_file(tiny_model_dir, tmp_path):
    tasks = write_tiny_mc_task(tmp_path / "tasks")
    tested, fewshot = (
        _questions(tasks / f"{TASK}.jsonl"),
        _questions(tasks / f"{TASK}_fewshot.jsonl"),
    )
    res = _alone(tiny_model_dir, tasks)
    assert res["n-shot"][TASK] == FEWSHOT and len(res["samples"][TASK]) == len(tested)
    for sample in res["samples"][TASK]:
        prompt = json.dumps(sample["arguments"])
        assert [q for q in tested if q in prompt] == [sample["doc"]["question"]]
        assert sum(q in prompt for q in fewshot) == FEWSHOT


def test_a_local_task_gives_what_lm_eval_gives_alone(
    ray_local, tiny_model_dir, other_model, tmp_path, capsys
):
    tasks = write_tiny_mc_task(tmp_path / "tasks")
    out = tmp_path / "eval"
    argv = [
        "eval", "--output", str(out), f"eval.model_a={tiny_model_dir}", f"eval.model_b={other_model}",
        "eval.sets=[]", f"eval.benchmarks=[{TASK}]", f"eval.benchmark_include_path={tasks}",
    ]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((out / "benchmarks" / "results.json").read_text())
    for side, model in (("a", tiny_model_dir), ("b", other_model)):
        alone = _alone(model, tasks)["results"][TASK]
        got = results[side]["tasks"][TASK]
        assert got["metric"] == "acc_norm" and results[side]["model"] == str(model)
        assert got["filter"] == "none" and got["subtasks"] == 1
        assert got["value"] == alone["acc_norm,none"]
        assert got["stderr"] == alone["acc_norm_stderr,none"]
        assert got["samples"] == got["answered"] == 8
    diff = results["a"]["tasks"][TASK]["value"] - results["b"]["tasks"][TASK]["value"]
    assert results["difference"][TASK] == diff and results["preset"] is None
    assert results["tasks"][TASK] == {"shots": None, "metric": None, "filter": None}
    m = read_manifest(str(out))
    assert m["invariant"]["ok"] and m["counts"]["input"] == m["counts"]["kept"] == 16
    assert m["lm_eval"]["invariant"]["ok"] and m["lm_eval"]["ran"]["models"]["a"] == str(
        tiny_model_dir
    )
    assert list(m)[-1] == "verdict" and m["verdict"]["lm_eval"]["difference"][TASK] == diff
    assert "pairwise" not in m and f"lm-eval {TASK}: A " in capsys.readouterr().out
    report = (out / "report.md").read_text()
    assert f"lm-eval {TASK}" in report and f"| {TASK} | default | acc_norm |" in report
