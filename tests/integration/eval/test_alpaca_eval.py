"""`recycle eval` with AlpacaEval, offline: both tiny models answer the prompts through `recycle
generate`, the alpaca_eval package's own command judges them against local reference outputs,
its annotator pointed at the local server answering alpaca_eval_gpt4's ranking format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recycle.cli.main import main
from recycle.rundir import read_manifest
from recycle.testing.local_server import LocalTeacherServer
from recycle.testing.scripted_judges import alpaca_ranking_review
from tests.support import tiny_model

pytestmark = pytest.mark.integration

N = 6


@pytest.fixture(scope="module")
def other_model(tiny_artifacts: Path, tiny_tokenizer_dir: Path) -> Path:
    return tiny_model.build_tiny_model(tiny_artifacts, tiny_tokenizer_dir, seed=1)


def _reference(path: Path) -> Path:
    """Reference outputs: two of every three a single word, the others 600 characters."""
    rows = [
        {"instruction": f"Tell me about topic {i}.", "output": "Long. " * 100 if i % 3 == 2 else "Ok.",
         "generator": "reference", "dataset": "helpful_base"}
        for i in range(N)
    ]  # fmt: skip
    path.write_text(json.dumps(rows))
    return path


def test_alpaca_eval_runs_the_package_against_the_judge(
    ray_local, tiny_model_dir, other_model, tmp_path, monkeypatch
):
    monkeypatch.setenv("RECYCLE_TEST_JUDGE_KEY", "local-secret")
    reference = _reference(tmp_path / "reference.json")
    out = tmp_path / "eval"
    with LocalTeacherServer(answer=alpaca_ranking_review, model="local-judge") as judge:
        argv = [
            "eval", "--output", str(out), f"eval.model_a={tiny_model_dir}", f"eval.model_b={other_model}",
            "eval.sets=[]", f"eval.alpaca_eval.reference_outputs={reference}", "eval.max_new_tokens=8",
            f"judge.base_url={judge.base_url}", "judge.model=local-judge",
            "judge.api_key_env=RECYCLE_TEST_JUDGE_KEY",
        ]  # fmt: skip
        assert main(argv) == 0
        requests = judge.stats.requests
    results = json.loads((out / "alpaca_eval" / "results.json").read_text())
    for side in ("a", "b"):
        answers = json.loads(
            (out / "alpaca_eval" / f"answers_{side}" / "model_outputs.json").read_text()
        )
        assert len(answers) == N and all(3 < len(a["output"].strip()) < 600 for a in answers)
        # the longer answer wins: each model beats the 4 one-word references, loses to the 2 long ones
        assert results[side]["win_rate"] == pytest.approx(100 * 4 / 6)
        assert results[side]["n_total"] == N and results[side]["standard_error"] > 0
    assert requests == 2 * N
    m = read_manifest(str(out))
    assert (
        m["invariant"]["ok"] and m["alpaca_eval"]["asked"] == m["alpaca_eval"]["answered"] == 2 * N
    )
    assert m["alpaca_eval"]["ran"]["judge"]["model"] == "local-judge"
    assert m["verdict"]["alpaca_eval"]["a"]["win_rate"] == pytest.approx(100 * 4 / 6)
    assert "local-secret" not in json.dumps(m)
    assert "AlpacaEval A: win rate 66.67" in (out / "report.md").read_text()
