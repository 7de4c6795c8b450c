"""Teacher config validation, and the Ray Serve LLM arguments built from it (GPU and CPU placement).

That Ray accepts these arguments and places them as intended is checked against the real
`ray.serve.llm.LLMConfig` in tests/integration/rayllm (the environment with Ray Serve and vLLM)."""

from __future__ import annotations

import sys

import pytest

from recycle.config import load_config
from recycle.config.teacher import TeacherConfig, TeacherServeConfig
from recycle.errors import ConfigError
from recycle.teacher.serve import (
    build_serve_app,
    http_options,
    llm_config_kwargs,
    served_base_url,
    served_config,
)


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


CPU = ["teacher.serve.model_source=/m", "teacher.serve.device=cpu"]


def test_cpu_device_places_cpu_bundles_and_a_cpu_executor() -> None:
    one = llm_config_kwargs(load_config(None, [*CPU, "teacher.serve.cpus_per_worker=2"]).teacher)
    assert one["placement_group_config"] == {"bundles": [{"CPU": 2.0}], "strategy": "PACK"}
    assert one["engine_kwargs"] == {
        "tensor_parallel_size": 1,
        "pipeline_parallel_size": 1,
        "distributed_executor_backend": "uni",  # vLLM's "ray" executor does not run on CPU
    }
    assert "accelerator_type" not in one and "runtime_env" not in one
    two = llm_config_kwargs(
        load_config(
            None,
            [*CPU, "teacher.serve.tensor_parallel_size=2", "teacher.serve.env_vars.VLLM_X='1'"],
        ).teacher
    )
    assert two["placement_group_config"]["bundles"] == [{"CPU": 1.0}, {"CPU": 1.0}]
    assert two["engine_kwargs"]["distributed_executor_backend"] == "mp"
    assert two["runtime_env"] == {"env_vars": {"VLLM_X": "1"}}


def test_gpu_device_without_accelerator_type_leaves_the_gpu_bundles_to_ray() -> None:
    kwargs = llm_config_kwargs(load_config(None, ["teacher.serve.model_source=/m"]).teacher)
    assert "placement_group_config" not in kwargs and "accelerator_type" not in kwargs
    assert kwargs["engine_kwargs"]["gpu_memory_utilization"] == 0.9


def test_answer_must_fit_the_served_context_at_load_time() -> None:
    with pytest.raises(
        ConfigError, match=r"teacher\.max_tokens=2048 .* teacher\.serve\.max_model_len=1024"
    ):
        load_config(None, [*CPU, "teacher.serve.max_model_len=1024"])
    load_config(None, [*CPU, "teacher.serve.max_model_len=1024", "teacher.max_tokens=512"])


def test_cpu_device_with_a_gpu_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"teacher\.serve\.accelerator_type.*device is cpu"):
        load_config(None, [*CPU, "teacher.serve.accelerator_type=A100"])


def test_missing_vllm_extra_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import fails as when not installed
    with pytest.raises(ConfigError, match=r"pip install 'recycle\[vllm\]'"):
        build_serve_app(load_config(None, SERVED).teacher)


def test_serve_unset_means_nothing_to_serve() -> None:
    with pytest.raises(ConfigError, match="teacher.serve is not set"):
        llm_config_kwargs(TeacherConfig())


def test_the_proxy_binds_the_heads_internal_address_unless_told_otherwise() -> None:
    # Ray Serve LLM's ingress checks no key, so the default must not listen on every interface
    default = TeacherServeConfig(model_source="m", http_port=8123)
    assert http_options(default, head_address="10.1.2.3") == {"host": "10.1.2.3", "port": 8123}
    local = TeacherServeConfig(model_source="m", http_host="127.0.0.1")
    assert http_options(local, head_address="10.1.2.3") == {"host": "127.0.0.1", "port": 8000}
    assert served_base_url(http_options(default, "10.1.2.3")) == "http://10.1.2.3:8123/v1"
