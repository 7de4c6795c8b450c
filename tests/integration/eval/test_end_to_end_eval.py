"""jobs/end_to_end.py with its evaluation stage, offline: pipeline, fine-tuning, then the fine-tuned
tiny student judged against its base model; the run's manifest ends with the verdict."""

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


def test_end_to_end_job_ends_with_the_verdict(ray_local, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    with LocalTeacherServer() as server:  # reflects as the teacher, scores as the judge
        argv = [
            "jobs/configs/small_local.yaml", f"output.dir={out}", f"student.model={tiny_model_dir}",
            f"teacher.base_url={server.base_url}", "data.limit=8",
            "selection.require_response_reflected=false", "selection.require_ifd_below_one=false",
            "selection.require_rifd_below_one=false", "train.cpus_per_worker=0.5", "train.name=e2e-eval",
            "eval.baseline=base", "eval.sets=[vicuna]", "eval.limit_per_set=3", "eval.max_new_tokens=4",
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
