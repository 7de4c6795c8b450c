"""The Leaderboard's arithmetic (issue 35): MMLU as the mean of its subjects, figures read with
their filter, the six-task preset, lm-eval's vLLM model. `simple_evaluate` is replaced by a
recorded output of lm-eval's shape, so the reading is checked on numbers chosen to tell apart
what today's code and the Leaderboard compute."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from recycle.eval import lm_harness as H
from recycle.eval import lm_tasks as T

SUBJECTS = {  # subject: (category, questions, accuracy)
    "mmlu_anatomy": ("mmlu_stem", 10, 0.9),
    "mmlu_astronomy": ("mmlu_stem", 30, 0.5),
    "mmlu_philosophy": ("mmlu_humanities", 60, 0.2),
}
STDERR = {"mmlu_anatomy": 0.03, "mmlu_astronomy": 0.04, "mmlu_philosophy": 0.05}


def _weighted(names: list[str]) -> float:
    n = sum(SUBJECTS[s][1] for s in names)
    return sum(SUBJECTS[s][1] * SUBJECTS[s][2] for s in names) / n


def _mmlu_output() -> dict:
    """simple_evaluate's output for mmlu: subjects of unequal size, lm-eval's size-weighted
    figures on the group and its categories (as its `weight_by_size: True` computes them)."""
    results = {s: {"alias": s, "acc,none": a, "acc_stderr,none": STDERR[s]}
               for s, (_, _, a) in SUBJECTS.items()}  # fmt: skip
    groups = {"mmlu": ["mmlu_stem", "mmlu_humanities"]}
    for s, (cat, _, _) in SUBJECTS.items():
        groups.setdefault(cat, []).append(s)
    for group, members in groups.items():
        leaves = list(SUBJECTS) if group == "mmlu" else members
        results[group] = {"alias": group, "acc,none": _weighted(leaves), "acc_stderr,none": 0.01}
    return {
        "results": results,
        "group_subtasks": groups,
        "n-samples": {s: {"original": n, "effective": n} for s, (_, n, _) in SUBJECTS.items()},
        "samples": {s: [{}] * n for s, (_, n, _) in SUBJECTS.items()},
    }


GSM8K = {
    "alias": "gsm8k",
    "exact_match,strict-match": 0.25,
    "exact_match_stderr,strict-match": 0.05,
    "exact_match,flexible-extract": 0.3,
    "exact_match_stderr,flexible-extract": 0.06,
}


@pytest.fixture
def recorded(monkeypatch):
    """simple_evaluate answers with the output set in `recorded["output"]`; its calls are kept."""
    lm_eval = pytest.importorskip("lm_eval", reason="needs the eval extra (lm-eval)")

    state: dict = {"calls": []}

    def fake(**kwargs):
        state["calls"].append(kwargs)
        return state["output"]

    monkeypatch.setattr(lm_eval, "simple_evaluate", fake)
    monkeypatch.setattr(H, "task_manager", lambda names, include_path: None)
    return state


def test_mmlu_is_the_unweighted_mean_of_its_57_subjects_not_lm_evals_weighted_figure(recorded):
    recorded["output"] = _mmlu_output()
    got = H.evaluate_model("/m", T.task_specs(["mmlu"]), H.lm_eval_settings(None, None, 8, 0))
    mmlu = got["mmlu"]
    assert _weighted(list(SUBJECTS)) == pytest.approx(0.36)  # what lm-eval's group reports
    assert mmlu["value"] == pytest.approx((0.9 + 0.5 + 0.2) / 3)  # the Leaderboard's: 0.5333
    assert mmlu["stderr"] == pytest.approx(math.sqrt(0.03**2 + 0.04**2 + 0.05**2) / 3)
    assert (mmlu["metric"], mmlu["filter"], mmlu["subtasks"]) == ("acc", "none", 3)
    assert (mmlu["samples"], mmlu["answered"]) == (100, 100)


def test_gsm8k_is_read_with_its_filter_strict_match_unless_another_is_asked(recorded):
    recorded["output"] = {
        "results": {"gsm8k": GSM8K},
        "n-samples": {"gsm8k": {"original": 1319, "effective": 4}},
        "samples": {"gsm8k": [{}] * 4},
    }
    got = H.evaluate_model("/m", T.task_specs(["gsm8k"]), H.lm_eval_settings(None, None, 8, 0))
    assert got["gsm8k"] == {
        "metric": "exact_match", "filter": "strict-match", "value": 0.25, "stderr": 0.05,
        "subtasks": 1, "samples": 4, "answered": 4,
    }  # fmt: skip
    flexible = H.pick(GSM8K, T.TaskSpec("gsm8k", metric="exact_match", filter="flexible-extract"))
    assert (flexible["value"], flexible["stderr"]) == (0.3, 0.06)
    with pytest.raises(KeyError, match="filter 'strict'"):
        H.pick(GSM8K, T.TaskSpec("gsm8k", metric="exact_match", filter="strict"))


def test_open_llm_v1_6_is_the_final_leaderboard_and_averages_its_six_figures():
    specs = T.task_specs(["open_llm_v1_6"])
    assert [(s.name, s.shots, s.metric, s.filter) for s in specs] == [
        ("arc_challenge", 25, "acc_norm", "none"), ("hellaswag", 10, "acc_norm", "none"),
        ("mmlu", 5, "acc", "none"), ("truthfulqa_mc2", 0, "acc", "none"),
        ("winogrande", 5, "acc", "none"), ("gsm8k", 5, "exact_match", "strict-match"),
    ]  # fmt: skip
    assert [s.name for s in T.task_specs(["open_llm_v1"])] == [s.name for s in specs[:4]]
    values = {"a": [0.5, 0.7, 0.4, 0.45, 0.6, 0.15], "b": [0.4, 0.6, 0.4, 0.5, 0.6, 0.1]}
    scores = {
        side: {s.name: {"value": v, "metric": s.metric, "filter": s.filter, "stderr": None}
               for s, v in zip(specs, vals, strict=True)}
        for side, vals in values.items()
    }  # fmt: skip
    r = H.results_table({"a": "/m/a", "b": "/m/b"}, scores, specs)
    assert r["preset"] == "open_llm_v1_6" and r["a"]["average"] == pytest.approx(2.8 / 6)
    assert r["difference"]["average"] == pytest.approx((2.8 - 2.6) / 6)
    table = "\n".join(H.results_markdown(r, {"a": "A", "b": "B"}))
    assert "| gsm8k | 5 | exact_match (strict-match) | 15.00 | 10.00 | +5.00 |" in table
    assert "| **Open LLM Leaderboard v1 average (6 tasks)** | | | 46.67 | 43.33 | +3.33 |" in table


def test_the_vllm_backend_hands_lm_eval_its_vllm_model_over_the_tasks_gpus():
    settings = H.lm_eval_settings(None, None, 8, 2.0, "vllm", {"enforce_eager": True})
    assert H.model_arguments("/models/a", settings) == {
        "model": "vllm",
        "model_args": {"pretrained": "/models/a", "tensor_parallel_size": 2, "enforce_eager": True},
        "batch_size": "auto",
        "device": None,
    }
    hf = H.model_arguments("/models/a", H.lm_eval_settings(None, None, 8, 0.0))
    assert hf == {"model": "hf", "model_args": {"pretrained": "/models/a"}, "batch_size": 8,
                  "device": "cpu"}  # fmt: skip


def test_the_vllm_arguments_are_those_the_installed_lm_eval_vllm_model_takes():
    """lm_eval.models.vllm_causallms imports vllm (not installed here): its signature is read
    from the source of the installed harness."""
    import ast
    import importlib.util

    pytest.importorskip("lm_eval", reason="needs the eval extra (lm-eval)")
    from lm_eval.models import MODEL_MAPPING

    from recycle.commands.eval_steps import lm_eval_backend
    from recycle.config import load_config

    module, _, cls = MODEL_MAPPING["vllm"].partition(":")
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    init = next(
        f for c in tree.body if isinstance(c, ast.ClassDef) and c.name == cls
        for f in c.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"
    )  # fmt: skip
    named = {a.arg for a in init.args.args}
    args = H.model_arguments("/m", H.lm_eval_settings(None, None, 8, 1.0, "vllm"))["model_args"]
    assert set(args) <= named and init.args.kwarg is not None  # engine kwargs pass through
    backends = {
        b: lm_eval_backend(load_config(None, [f"eval.backend={b}"])) for b in ("auto", "hf", "vllm")
    }
    assert backends == {"auto": "hf", "hf": "hf", "vllm": "vllm"}
