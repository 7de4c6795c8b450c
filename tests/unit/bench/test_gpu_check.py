"""The GPU check cannot rot: its --dry-run takes every check's code path on the CPU, as a bare GPU
machine would run it (no Ray, no vLLM, none of the project's other dependencies importable), and
its comparisons fail on values that differ."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from recycle.bench.gpu_check import (
    build_student,
    check_scoring,
    compare,
    first_difference,
    make_check_plan,
)

REPO = Path(__file__).resolve().parents[3]

# Not installed on the GPU machine. A None in sys.modules makes `import` fail and `find_spec` say
# absent, as the Python-level checks of transformers and torch expect. pandas is found by pyarrow's
# Cython code, which reads a None in sys.modules as the module itself: its import fails instead.
ABSENT = ("ray", "vllm", "openai", "sentence_transformers", "matplotlib", "datasets")
BARE = f"""
import importlib.machinery, runpy, sys
for name in {ABSENT!r}:
    sys.modules[name] = None
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pandas":
            return importlib.machinery.ModuleSpec(name, self)
    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {{spec.name!r}} (absent on the GPU machine)")
    def exec_module(self, module):
        pass
sys.meta_path.insert(0, Absent())
sys.argv = ["jobs/gpu_check.py", "--dry-run", "--workdir", sys.argv[1]]
runpy.run_path("jobs/gpu_check.py", run_name="__main__")
"""


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("gpu_check")
    done = subprocess.run(
        [sys.executable, "-c", BARE, str(workdir)],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done


def test_dry_run_passes_every_check_without_ray(dry_run):
    summary = json.loads(dry_run.stdout.strip().splitlines()[-1])
    checks = summary["checks"]
    failed = {k: c for k, c in checks.items() if not c["passed"]}
    assert dry_run.returncode == 0 and not failed, (failed, dry_run.stderr[-3000:])
    assert set(checks) == {"setup", "scoring", "training", "checkpoint", "export", "generation",
                           "bench_gpu", "wall"}  # fmt: skip
    assert all(c["passed"] for c in checks.values()) and summary["passed"]
    assert not summary["ray_imported"] and not summary["vllm_imported"]
    assert summary["environment"]["dry_run"] and summary["environment"]["dtype"] == "torch.float32"


def test_dry_run_numbers_say_what_was_compared(dry_run):
    checks = json.loads(dry_run.stdout.strip().splitlines()[-1])["checks"]
    scoring = checks["scoring"]
    # 8 rows x (IFD, r-IFD) pairs: the batched scorer equals the one-sequence loop in fp32
    assert scoring["losses"]["n"] == scoring["sequences"] >= 8
    assert scoring["losses"]["max_abs_diff"] <= 1e-4 and scoring["log_ifd_rifd"]["n"] >= 4
    train = checks["training"]
    assert train["loss_after"] < 0.95 * train["loss_before"]
    ckpt = checks["checkpoint"]
    assert ckpt["reloaded"] == pytest.approx(ckpt["saved"], abs=1e-5)
    assert abs(ckpt["fresh_model"] - ckpt["saved"]) > 0.1  # the reload is what brought it back
    assert ckpt["reloaded_after_one_more_step"] == pytest.approx(
        ckpt["after_one_more_step"], abs=1e-5
    )
    assert ckpt["after_one_more_step"] < ckpt["saved"]
    export = checks["export"]
    assert export["from_pretrained"] == pytest.approx(export["fsdp"], abs=1e-4)
    gen = checks["generation"]
    assert gen["answers"] == 4 and gen["equal"] == 4 and gen["tokens_alone"] >= 4
    bench = checks["bench_gpu"]
    assert bench["scoring_tokens_per_s"] > 0 and bench["train_tokens_per_s"] > 0


def test_compare_passes_values_within_tolerance():
    out = compare([1.0, 2.0, 3.00005], [1.0, 2.0, 3.0], 1e-4)
    assert out["passed"] and out["n"] == 3 and out["max_abs_diff"] == pytest.approx(5e-5)


def test_compare_fails_a_mismatch_and_reports_it():
    out = compare([10.4, 10.2], [10.4, 10.25], 0.02)
    assert not out["passed"] and out["max_abs_diff"] == pytest.approx(0.05)


def test_compare_fails_nan_and_nothing_compared():
    assert not compare([math.nan], [1.0], 1.0)["passed"]
    assert not compare([1.0], [math.inf], 1.0)["passed"]
    assert not compare([], [], 1.0)["passed"]
    with pytest.raises(ValueError):
        compare([1.0], [1.0, 2.0], 1.0)


def test_first_difference_of_greedy_answers():
    assert first_difference([5, 6, 7], [5, 9, 7]) == 1
    assert first_difference([5, 6], [5, 6, 7]) == 2  # the shorter ended at eos
    assert first_difference([], [3]) == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
def test_without_a_gpu_the_real_check_refuses_at_once(tmp_path):
    with pytest.raises(SystemExit, match="no CUDA device"):
        make_check_plan(False, str(tmp_path))


def test_scoring_check_fails_a_scorer_off_by_a_hundredth(tmp_path, monkeypatch):
    from recycle.student import scoring
    from recycle.student.planning import IFD_KIND

    plan = make_check_plan(True, str(tmp_path), bench=False)
    setup = build_student(plan)
    real, uncond = scoring.score_columns, scoring.KIND_COLUMNS[IFD_KIND][1]

    def off(*args, **kwargs):
        out, stats = real(*args, **kwargs)
        out[uncond] = [v + 0.01 for v in out[uncond]]  # loss_y a hundredth of a nat too high
        return out, stats

    monkeypatch.setattr(scoring, "score_columns", off)
    result = check_scoring(plan, setup)
    assert not result["passed"] and not result["losses"]["passed"]
    assert result["losses"]["max_abs_diff"] == pytest.approx(0.01, abs=1e-4)
