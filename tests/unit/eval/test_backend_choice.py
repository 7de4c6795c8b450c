"""eval.backend=auto: vLLM where vllm is installed and the generation actors get GPUs, else HF."""

from __future__ import annotations

import logging

import pytest

from recycle.config import load_config
from recycle.eval import run_generate
from recycle.eval.run_generate import choose_backend


@pytest.mark.parametrize(
    ("gpus", "vllm_ready", "chosen", "said"),
    [
        (
            1.0,
            True,
            "vllm",
            "eval.backend=auto: vllm (vLLM is installed and each actor gets 1 GPU)",
        ),
        (
            0.5,
            True,
            "vllm",
            "eval.backend=auto: vllm (vLLM is installed and each actor gets 0.5 GPU)",
        ),
        (0.0, True, "hf", "eval.backend=auto: hf (no GPU for the generation actors)"),
        (1.0, False, "hf", "eval.backend=auto: hf (vllm is not installed)"),
        (0.0, False, "hf", "eval.backend=auto: hf (vllm is not installed)"),
    ],
)
def test_auto_chooses_and_says_why(caplog, gpus, vllm_ready, chosen, said):
    """The choice is logged on the progress logger, which a quiet console shows."""
    with caplog.at_level(logging.INFO, logger=run_generate.console.name):
        assert choose_backend("auto", gpus, vllm_ready) == chosen
    assert [r.getMessage() for r in caplog.records] == [said]


@pytest.mark.parametrize("backend", ["hf", "vllm"])
@pytest.mark.parametrize(("gpus", "vllm_ready"), [(0.0, False), (1.0, True)])
def test_an_explicit_backend_is_kept(caplog, backend, gpus, vllm_ready):
    with caplog.at_level(logging.INFO, logger=run_generate.console.name):
        assert choose_backend(backend, gpus, vllm_ready) == backend
    assert caplog.records == []


def test_auto_is_the_default_and_passes_pre_flight_without_vllm(monkeypatch):
    from recycle.preflight import generation_backend, run_preflight

    monkeypatch.setattr(run_generate, "generation_backend_problem", lambda b: "missing")
    cfg = load_config(None, [])
    assert cfg.eval.backend == "auto"
    run_preflight(cfg, (generation_backend,))  # auto never needs vllm: falls back to hf
    assert run_generate.vllm_installed() is False


def test_vllm_installed_follows_the_installed_packages():
    import importlib.util

    assert run_generate.vllm_installed() is (importlib.util.find_spec("vllm") is not None)
