"""lm-eval task lists: the Open LLM v1 preset, grouping by shots, picking metrics, the average
(the Leaderboard's arithmetic: test_lm_harness_leaderboard.py; pre-flight: test_lm_harness_preflight.py)."""

from __future__ import annotations

import pytest

from recycle.errors import ConfigError
from recycle.eval import lm_harness as H
from recycle.eval import lm_tasks as T


def test_the_preset_is_the_leaderboard_v1_and_groups_by_shots():
    specs = T.task_specs(["open_llm_v1", "winogrande"])
    assert [(s.name, s.shots, s.metric) for s in specs] == [
        ("arc_challenge", 25, "acc_norm"), ("hellaswag", 10, "acc_norm"), ("mmlu", 5, "acc"),
        ("truthfulqa_mc2", 0, "acc"), ("winogrande", None, None),
    ]  # fmt: skip
    groups = T.by_shots(specs)
    assert list(groups) == [25, 10, 5, 0, None] and all(len(g) == 1 for g in groups.values())
    with pytest.raises(ConfigError, match="twice"):
        T.task_specs(["open_llm_v1", "mmlu"])


def test_pick_takes_the_asked_metric_else_acc_norm_else_acc():
    result = {
        "acc,none": 0.5,
        "acc_stderr,none": 0.1,
        "acc_norm,none": 0.6,
        "acc_norm_stderr,none": "N/A",
    }
    assert H.pick(result, T.TaskSpec("t", metric="acc")) == {
        "metric": "acc",
        "filter": "none",
        "value": 0.5,
        "stderr": 0.1,
    }
    assert H.pick(result, T.TaskSpec("t")) == {
        "metric": "acc_norm",
        "filter": "none",
        "value": 0.6,
        "stderr": None,
    }
    with pytest.raises(KeyError, match="mc2"):
        H.pick({"acc,none": 1.0}, T.TaskSpec("mc2", metric="mc2"))


def test_results_average_the_four_leaderboard_figures_and_take_a_minus_b():
    specs = T.task_specs(["open_llm_v1"])
    values = {"a": [0.5, 0.7, 0.4, 0.45], "b": [0.4, 0.6, 0.4, 0.5]}
    scores = {
        side: {
            s.name: {"value": v, "metric": s.metric, "stderr": 0.01}
            for s, v in zip(specs, vals, strict=True)
        }
        for side, vals in values.items()
    }
    r = H.results_table({"a": "/m/a", "b": "/m/b"}, scores, specs)
    assert r["preset"] == "open_llm_v1"
    assert r["a"]["average"] == pytest.approx(0.5125) and r["b"]["average"] == pytest.approx(0.475)
    assert r["difference"]["average"] == pytest.approx(0.0375)
    assert r["difference"]["truthfulqa_mc2"] == pytest.approx(-0.05)
    table = "\n".join(H.results_markdown(r, {"a": "A", "b": "B"}))
    assert "| **Open LLM Leaderboard v1 average (4 tasks)** | | | 51.25 | 47.50 | +3.75 |" in table


def test_a_group_counts_the_samples_of_its_leaves():
    res = {
        "group_subtasks": {"mmlu": ["mmlu_h", "mmlu_s"], "mmlu_h": ["x", "y"], "mmlu_s": ["z"]},
        "n-samples": {t: {"effective": 2, "original": 5} for t in "xyz"},
        "samples": {"x": [1, 2], "y": [1, 2], "z": [1]},
    }
    assert H.sample_counts(res, "mmlu") == {"samples": 6, "answered": 5}
