"""Metrics: FLOP count and MFU, the progress line, metric parts merged across a resume."""

import json

import pytest
import torch

from recycle.errors import ConfigError
from recycle.train.checkpoint import TrainState, check_resumable, latest_state
from recycle.train.metrics import (
    ModelShape,
    StepMeter,
    flops_per_token,
    mean_context,
    peak_flops,
    train_step_line,
)
from recycle.train.metrics_log import MetricsLog, check_tracker, read_metrics
from recycle.train.step import StepResult


def test_flops_per_token_is_palm_accounting():
    # Llama-2-7B: 6.74e9 params, 32 layers, 4096 hidden, 2048 context
    assert flops_per_token(6_738_415_616, 32, 4096, 2048) == pytest.approx(
        6 * 6_738_415_616 + 12 * 32 * 4096 * 2048
    )


def test_mfu_needs_a_known_peak():
    assert peak_flops(torch.device("cpu"), "bf16", None) is None
    assert peak_flops(torch.device("cpu"), "fp32", 2.0) == 2e12
    meter = StepMeter(
        ModelShape(1000, 2, 64), world_size=2, peak=1e9, device=torch.device("cpu"), total_steps=10
    )
    m = meter.metrics(3, 0, StepResult(2.5, 1.0, 1e-4, 100, 400, 200), mean_context=50.0)
    assert m["tokens_per_s_per_worker"] == pytest.approx(m["tokens_per_s"] / 2)
    assert m["mfu"] == pytest.approx(
        m["tokens_per_s_per_worker"] * flops_per_token(1000, 2, 64, 50.0) / 1e9
    )
    line = train_step_line(m)
    assert (
        line.startswith("[train] step 3/10 epoch 1 loss 2.5000 lr 1.00e-04")
        and "mfu" in line
        and "/worker" in line
    )


def test_mean_context_weights_tokens_by_their_sample_length():
    batch = {
        "position_ids": torch.tensor([[0, 1, 2, 0, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 0]]),
    }
    assert mean_context([batch]) == pytest.approx((3 * 3 + 1 * 1) / 4)


def test_metric_parts_merge_with_the_latest_write_of_a_step(tmp_path):
    log = MetricsLog(str(tmp_path))
    for step in (1, 2, 3):
        log.add({"step": step, "loss": 10.0 - step})
    log.flush()
    log.add({"step": 3, "loss": 0.5})  # a resumed run redoes step 3
    log.add({"step": 4, "loss": 0.4})
    assert log.flush().endswith("steps-00000003-00000004.jsonl")
    assert log.flush() is None
    assert [(m["step"], m["loss"]) for m in read_metrics(str(tmp_path))] == [
        (1, 9.0),
        (2, 8.0),
        (3, 0.5),
        (4, 0.4),
    ]
    assert read_metrics(str(tmp_path / "nothing")) == []


def test_missing_tracker_package_is_a_start_up_error(monkeypatch):
    import importlib.util

    check_tracker("none")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        ConfigError, match="train.tracker=mlflow needs the mlflow package: pip install mlflow"
    ):
        check_tracker("mlflow")


def test_resume_check_refuses_another_schedule(tmp_path):
    run = tmp_path / "finetune"
    assert latest_state(str(run)) is None and check_resumable(str(run), "abc") is None
    for step in (8, 16):
        (run / f"step_{step:08d}").mkdir(parents=True)
        (run / f"step_{step:08d}" / "trainer_state.json").write_text(
            json.dumps(TrainState(step, 0, "abc", 2).__dict__)
        )
    assert check_resumable(str(run), "abc").step == 16
    with pytest.raises(ConfigError, match="another data schedule"):
        check_resumable(str(run), "xyz")


def test_mlflow_tracker_logs_params_and_numeric_metrics(monkeypatch):
    import sys
    import types

    calls = []
    fake = types.ModuleType("mlflow")
    fake.set_tracking_uri = lambda uri: calls.append(("uri", uri))
    fake.set_experiment = lambda name: calls.append(("experiment", name))
    fake.start_run = lambda run_name: calls.append(("start", run_name))
    fake.log_params = lambda params: calls.append(("params", params))
    fake.log_metrics = lambda metrics, step: calls.append(("metrics", metrics, step))
    fake.end_run = lambda: calls.append(("end",))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    from recycle.train.metrics_log import Tracker

    tracker = Tracker(
        "mlflow", "recycle", "run-a", {"train": {"lr": 1e-5}}, uri="file:///tmp/mlruns"
    )
    tracker.log({"loss": 1.5, "step": 3, "note": "text"}, step=3)
    tracker.close()
    assert calls == [
        ("uri", "file:///tmp/mlruns"),
        ("experiment", "recycle"),
        ("start", "run-a"),
        ("params", {"train.lr": 1e-5}),
        ("metrics", {"loss": 1.5, "step": 3.0}, 3),
        ("end",),
    ]
