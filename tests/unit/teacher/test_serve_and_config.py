"""Teacher config validation, and the Ray Serve LLM app built as configured (on CPU, vllm faked)."""

from __future__ import annotations

import sys
import types

import pytest

from recycle.config import load_config
from recycle.config.teacher import TeacherConfig
from recycle.errors import ConfigError
from recycle.teacher.serve import build_serve_app, llm_config_kwargs, served_config


def test_defaults_are_the_papers_and_prices_extend_the_table() -> None:
    cfg = load_config(
        None, ["teacher.prices.my-llm.input_per_1m=1", "teacher.prices.my-llm.output_per_1m=2"]
    ).teacher
    assert (cfg.temperature, cfg.top_p, cfg.max_tokens) == (0.0, 1.0, 2048)
    assert cfg.prices["my-llm"].output_per_1m == 2.0
    assert cfg.price() is not None and cfg.price().input_per_1m == 0.15  # gpt-4o-mini kept
    assert cfg.rows_per_batch() == cfg.concurrency


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["teacher.model=my-llm", "teacher.max_cost_usd=5"], "teacher.prices.my-llm"),
        (["teacher.max_tokens=4096", "teacher.context_window=4096"], "context_window"),
        (["teacher.concurency=4"], "did you mean 'teacher.concurrency'"),
        (["teacher.serve.tensor_parallel_size=2"], "model_source"),
    ],
)
def test_bad_teacher_config_fails_naming_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(None, overrides)


SERVED = [
    "teacher.model=qwen-7b",
    "teacher.serve.model_source=/models/Qwen2.5-7B-Instruct",
    "teacher.serve.tensor_parallel_size=2",
    "teacher.serve.num_replicas=3",
    "teacher.serve.max_model_len=8192",
    "teacher.serve.accelerator_type=H100",
    "teacher.serve.engine_kwargs.enable_prefix_caching=true",
]


# What Ray Serve LLM's LLMConfig must receive for SERVED, written out by hand.
LLM_CONFIG = {
    "model_loading_config": {"model_id": "qwen-7b", "model_source": "/models/Qwen2.5-7B-Instruct"},
    "deployment_config": {"autoscaling_config": {"min_replicas": 3, "max_replicas": 3}},
    "engine_kwargs": {
        "tensor_parallel_size": 2,
        "pipeline_parallel_size": 1,
        "gpu_memory_utilization": 0.9,
        "max_model_len": 8192,
        "enable_prefix_caching": True,
    },
    "accelerator_type": "H100",
}


def test_llm_config_kwargs_follow_the_config() -> None:
    cfg = load_config(None, SERVED).teacher
    assert llm_config_kwargs(cfg) == LLM_CONFIG
    served = served_config(cfg, "http://10.0.0.1:8000/v1")
    assert (served.base_url, served.context_window) == ("http://10.0.0.1:8000/v1", 8192)


def test_serve_app_is_built_through_ray_serve_llm(monkeypatch) -> None:
    calls = {}

    class FakeLLMConfig:
        def __init__(self, **kwargs):
            calls["llm_config"] = kwargs

    fake = types.ModuleType("ray.serve.llm")
    fake.LLMConfig = FakeLLMConfig
    fake.build_openai_app = lambda args: calls.setdefault("app", args) and "APP"
    monkeypatch.setitem(sys.modules, "ray.serve.llm", fake)
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))
    cfg = load_config(None, SERVED).teacher
    assert build_serve_app(cfg) == "APP"
    assert calls["llm_config"] == LLM_CONFIG  # the config's values, not the builder's echo
    assert list(calls["app"]) == ["llm_configs"] and len(calls["app"]["llm_configs"]) == 1
    assert isinstance(calls["app"]["llm_configs"][0], FakeLLMConfig)


def test_missing_vllm_extra_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import fails as when not installed
    with pytest.raises(ConfigError, match=r"pip install 'recycle\[vllm\]'"):
        build_serve_app(load_config(None, SERVED).teacher)


def test_serve_unset_means_nothing_to_serve() -> None:
    with pytest.raises(ConfigError, match="teacher.serve is not set"):
        llm_config_kwargs(TeacherConfig())
