"""`recycle generate` on the five shipped sets and `recycle eval` end to end, offline: tiny models
on local Ray, the local server as a scripted judge."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recycle.cli.main import main
from recycle.eval.pairwise_rule import outcome, parse_scores
from recycle.rundir import read_manifest
from recycle.testing.local_answers import judge_review
from recycle.testing.local_server import LocalTeacherServer
from tests.support import tiny_model

pytestmark = pytest.mark.integration

SIZES = {"vicuna": 80, "koala": 180, "wizardlm": 218, "sinstruct": 252, "lima": 300}
JUDGE = [
    "judge.model=local-judge",
    "judge.api_key_env=RECYCLE_TEST_JUDGE_KEY",
    "judge.num_actors=1",
]


def test_the_five_sets_generate_in_alpacaeval_format(ray_local, tiny_model_dir, tmp_path):
    out = tmp_path / "gen"
    argv = ["generate", "--model", str(tiny_model_dir), "--output", str(out)]
    assert (
        main([*argv, "eval.max_new_tokens=2", "eval.batch_size=32", "eval.rows_per_call=256"]) == 0
    )
    answers = json.loads((out / "model_outputs.json").read_text())
    rejects = json.loads((out / "rejects.json").read_text())
    m = read_manifest(str(out))
    by_set = Counter(a["dataset"] for a in answers) + Counter(r["dataset"] for r in rejects)
    assert by_set == SIZES and m["invariant"]["ok"] and m["counts"]["kept"] == len(answers)
    assert all(
        set(a) == {"instruction", "input", "output", "generator", "dataset"} for a in answers
    )
    assert {a["generator"] for a in answers} == {tiny_model_dir.name}
    # only prompts longer than the model's 4096 positions minus 2 new tokens go unanswered
    assert all(r["generation_error"].startswith("prompt_too_long") for r in rejects)
    assert len(rejects) < 5 and m["generation"]["generated_tokens"] == 2 * len(answers)
    assert answers[0]["instruction"] == "How can I improve my time management skills?"


@pytest.fixture(scope="module")
def other_model(tiny_artifacts: Path, tiny_tokenizer_dir: Path) -> Path:
    """A second random tiny Llama (another seed): model B."""
    return tiny_model.build_tiny_model(tiny_artifacts, tiny_tokenizer_dir, seed=1)


def test_recycle_eval_end_to_end(ray_local, tiny_model_dir, other_model, tmp_path):
    out = tmp_path / "eval"
    with LocalTeacherServer(model="local-judge") as judge:
        argv = [
            "eval", "--output", str(out), f"eval.model_a={tiny_model_dir}", f"eval.model_b={other_model}",
            "eval.sets=[vicuna, sinstruct]", "eval.limit_per_set=4", "eval.max_new_tokens=12",
            f"judge.base_url={judge.base_url}", *JUDGE,
        ]  # fmt: skip
        assert main(argv) == 0
        requests = judge.stats.requests
    a = json.loads((out / "answers_a" / "model_outputs.json").read_text())
    b = json.loads((out / "answers_b" / "model_outputs.json").read_text())
    assert len(a) == len(b) == 8 and a[4]["input"]  # Self-Instruct rows carry their input
    # what the scripted judge's scores give under the authors' rule, computed here
    expected = Counter()
    for ra, rb in zip(a, b, strict=True):
        fwd = parse_scores(judge_review(_user(ra, rb)))
        rev = parse_scores(judge_review(_user(rb, ra)))
        expected[(ra["dataset"], outcome(fwd, rev))] += 1
    summary = json.loads((out / "judge" / "summary.json").read_text())
    for name, s in summary["sets"].items():
        assert [s["win"], s["tie"], s["lose"]] == [
            expected[(name, o)] for o in ("win", "tie", "lose")
        ]
    m = read_manifest(str(out))
    assert list(m)[-1] == "verdict" and m["verdict"]["n"] == 8
    assert m["verdict"]["win"] == summary["total"]["win"]
    assert m["judge"]["requests"] == requests <= 16
    pairs = pq.read_table(out / "judge" / "pairs.parquet").to_pylist()
    assert [p["answer_a"] for p in pairs] == [r["output"] for r in a]


def _user(first: dict, second: dict) -> str:
    from recycle.eval.pairwise_rule import render_judge

    return render_judge(first["instruction"], first["output"], second["output"]).messages[-1][
        "content"
    ]
