"""A local teacher on the cluster: vLLM behind Ray Serve LLM, started before the stages, removed after.

`ray.serve.llm` and vllm are imported only when `teacher.serve` is set, with a clear message when
the `vllm` extra is missing. `llm_config_kwargs` is pure, so what gets served is testable on CPU.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recycle.config.teacher import TeacherConfig
from recycle.errors import ConfigError

log = logging.getLogger(__name__)

MISSING_EXTRA = (
    "teacher.serve needs Ray Serve LLM and vLLM on the cluster: pip install 'recycle[vllm]' "
    "(ray[serve,llm] and vllm), or unset teacher.serve and point teacher.base_url at a running server"
)


def llm_config_kwargs(cfg: TeacherConfig) -> dict[str, Any]:
    """The arguments of `ray.serve.llm.LLMConfig` for `cfg.serve`, served under `cfg.model`."""
    serve = cfg.serve
    if serve is None:
        raise ConfigError("teacher.serve is not set; nothing to serve")
    engine: dict[str, Any] = {
        "tensor_parallel_size": serve.tensor_parallel_size,
        "pipeline_parallel_size": serve.pipeline_parallel_size,
        "gpu_memory_utilization": serve.gpu_memory_utilization,
    }
    if serve.max_model_len is not None:
        engine["max_model_len"] = serve.max_model_len
    engine.update(serve.engine_kwargs)
    kwargs: dict[str, Any] = {
        "model_loading_config": {"model_id": cfg.model, "model_source": serve.model_source},
        "deployment_config": {
            "autoscaling_config": {
                "min_replicas": serve.num_replicas,
                "max_replicas": serve.num_replicas,
            }
        },
        "engine_kwargs": engine,
    }
    if serve.accelerator_type is not None:
        kwargs["accelerator_type"] = serve.accelerator_type
    return kwargs


def _import_serve_llm() -> Any:
    try:
        importlib.import_module("vllm")
        return importlib.import_module("ray.serve.llm")
    except ImportError as err:
        raise ConfigError(f"{MISSING_EXTRA} (import failed: {err})") from None


def build_serve_app(cfg: TeacherConfig) -> Any:
    """The Ray Serve application of an OpenAI-compatible vLLM server for `cfg.serve`."""
    serve_llm = _import_serve_llm()
    llm_config = serve_llm.LLMConfig(**llm_config_kwargs(cfg))
    return serve_llm.build_openai_app({"llm_configs": [llm_config]})


def served_config(cfg: TeacherConfig, base_url: str) -> TeacherConfig:
    """The teacher config pointed at the served model (its context length when one was given)."""
    update: dict[str, Any] = {"base_url": base_url}
    if cfg.serve is not None and cfg.serve.max_model_len is not None:
        update["context_window"] = cfg.serve.max_model_len
    return TeacherConfig.model_validate({**cfg.model_dump(), **update})


@contextmanager
def served_teacher(cfg: TeacherConfig) -> Iterator[TeacherConfig]:
    """Serve the teacher for the duration of the block (when `cfg.serve` is set); yield its config."""
    if cfg.serve is None:
        yield cfg
        return
    import ray
    from ray import serve

    app = build_serve_app(cfg)
    serve.start(http_options={"host": "0.0.0.0", "port": cfg.serve.http_port})
    log.info("serving teacher %s from %s with Ray Serve LLM", cfg.model, cfg.serve.model_source)
    serve.run(app, name=cfg.serve.app_name, route_prefix="/")
    base_url = f"http://{ray.util.get_node_ip_address()}:{cfg.serve.http_port}/v1"
    try:
        yield served_config(cfg, base_url)
    finally:
        serve.delete(cfg.serve.app_name)
        log.info("teacher application %s removed", cfg.serve.app_name)
