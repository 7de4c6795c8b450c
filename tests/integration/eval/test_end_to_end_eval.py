"""jobs/end_to_end.py with its evaluation stage, offline: pipeline, fine-tuning, then the fine-tuned
tiny student judged against its base model; the run's manifest ends with the verdict. The same job
runs both controls (issue 35, part 1): a selective run keeps the rows whose final IFD is below 1
(with the tiny random student, some of the 8 and not all: the run is deterministic), fine-tunes the
tiny student on them, then on a seeded random subset and on the longest responses of the same 8
rows at that size, and judges all three against the base model; the verdict shows the three rows
with intervals and one line. (One job for both: each fine-tunes and
judges, which is most of an integration run's time.)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from recycle.testing.local_server import LocalTeacherServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def _end_to_end():
    spec = importlib.util.spec_from_file_location("end_to_end", REPO / "jobs" / "end_to_end.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_end_to_end_job_ends_with_the_verdict_and_its_controls(
    ray_local, tiny_model_dir, tmp_path, capsys
):
    out = tmp_path / "run"
    with LocalTeacherServer() as server:  # reflects as the teacher, scores as the judge
        argv = [
            "jobs/configs/small_local.yaml", f"output.dir={out}", f"student.model={tiny_model_dir}",
            f"teacher.base_url={server.base_url}", "data.limit=8", "selection.mode=selective",
            "selection.require_response_reflected=false", "selection.require_rifd_below_one=false",
            "train.cpus_per_worker=0.5", "train.name=e2e-eval",
            "eval.baseline=base", "eval.controls=[random,length]", "eval.control_seed=5",
            "eval.sets=[vicuna]", "eval.limit_per_set=3", "eval.max_new_tokens=4",
            f"judge.base_url={server.base_url}", "judge.model=local-teacher", "judge.num_actors=1",
        ]  # fmt: skip
        assert _end_to_end().main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest)[-1] == "verdict"
    verdict = manifest["verdict"]
    assert verdict["n"] == 3 and verdict["win"] + verdict["tie"] + verdict["lose"] == 3
    assert manifest["outputs"]["model"] == str(out / "model")
    assert manifest["eval"]["answers"]["a"] == str(
        out / "eval" / "answers_a" / "model_outputs.json"
    )
    a = json.loads((out / "eval" / "answers_a" / "model_outputs.json").read_text())
    b = json.loads((out / "eval" / "answers_b" / "model_outputs.json").read_text())
    assert {r["generator"] for r in a} == {"model"} and {r["generator"] for r in b} == {
        tiny_model_dir.name
    }
    summary = json.loads((out / "eval" / "judge" / "summary.json").read_text())
    assert summary["total"]["win"] == verdict["win"]
    assert "wins" in capsys.readouterr().out

    # the controls, beside the verdict
    kept = manifest["counts"]["kept"]
    assert 0 < kept < 8
    controls = verdict["controls"]
    assert controls["applies"] and controls["size"] == kept and controls["usable"] == 8
    assert list(controls["rows"]) == ["recycled", "random", "length"]
    for row in controls["rows"].values():
        lo, hi = row["win_rate"]["ci"]
        assert lo <= row["win_rate"]["value"] <= hi
    assert controls["rows"]["recycled"]["win_rate"]["value"] == verdict["win_rate"]
    assert controls["line"].startswith("Recycling ") and controls["figure"] == "win_rate"

    source = json.loads((REPO / "recycle" / "demo" / "alpaca_sample.json").read_text())[:8]
    lengths = sorted((len(r["output"]) for r in source), reverse=True)
    longest = _records(out / "control_length" / "data.jsonl")
    assert sorted((len(r["output"]) for r in longest), reverse=True) == lengths[:kept]
    random_rows = _records(out / "control_random" / "data.jsonl")
    assert len(random_rows) == kept and all(r in source for r in random_rows)
    for name in ("random", "length"):
        train = json.loads((out / f"control_{name}" / "train" / "manifest.json").read_text())
        assert train["counts"]["input"] == kept
        assert train["config"]["train"]["dataset"] == str(out / f"control_{name}" / "data.jsonl")
        judged = json.loads((out / f"eval_control_{name}" / "manifest.json").read_text())
        assert judged["pairwise"]["ran"]["models"]["a"] == train["outputs"]["model"]
        assert judged["pairwise"]["ran"]["answers"]["b"] == str(
            out / "eval" / "answers_b" / "model_outputs.json"
        )  # the baseline's answers, judged again
        assert judged["verdict"]["win_rate"] == controls["rows"][name]["win_rate"]["value"]
    report = (out / "eval" / "report.md").read_text()
    assert "## Controls" in report and "control: longest responses" in report
    assert controls["line"] in report
    assert (
        json.loads((out / "eval" / "manifest.json").read_text())["verdict"] == manifest["verdict"]
    )
