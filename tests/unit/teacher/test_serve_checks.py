"""Pre-flight of a served teacher and of eval.backend=vllm: one line, exit 2, before Ray or torch."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from recycle.config import load_config
from recycle.preflight import PreflightError, generation_backend, run_preflight, teacher_endpoint
from recycle.teacher import serve_checks

REPO = Path(__file__).resolve().parents[3]
SCRIPT = (
    "import sys\n"
    "from recycle.cli.main import main\n"
    "rc = main(sys.argv[1:])\n"
    "heavy = sorted({'torch', 'ray', 'transformers', 'vllm'} & set(sys.modules))\n"
    "assert not heavy, f'imported before pre-flight ended: {heavy}'\n"
    "sys.exit(rc)\n"
)
NO_VLLM = importlib.util.find_spec("vllm") is None


@pytest.fixture
def vllm_installed(monkeypatch):
    """Pretend vllm and ray[serve] are installed (find_spec only: nothing gets imported)."""
    real = importlib.util.find_spec
    fake = {"vllm", "fastapi"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name in fake else real(name, *a)
    )


def served(source: str) -> list[str]:
    return [f"teacher.serve.model_source={source}", "teacher.serve.device=cpu"]


@pytest.mark.skipif(not NO_VLLM, reason="vllm is installed here")
def test_generate_with_vllm_backend_and_no_vllm_exits_2_before_anything_heavy(tmp_path) -> None:
    argv = ["generate", "--model", str(tmp_path), "--output", str(tmp_path / "o"), "eval.backend=vllm"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 2, done.stderr
    assert "eval.backend=vllm but vllm is not installed" in done.stderr
    assert "or set eval.backend=hf" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not NO_VLLM, reason="vllm is installed here")
def test_served_teacher_without_vllm_names_the_extra(tmp_path) -> None:
    cfg = load_config(None, served(str(tmp_path)))
    with pytest.raises(PreflightError, match=r"teacher\.serve is set but vllm is not installed"):
        run_preflight(cfg, (teacher_endpoint,))


def test_served_teacher_weights_must_be_a_model_folder(vllm_installed, tmp_path) -> None:
    with pytest.raises(
        PreflightError,
        match=r"teacher\.serve\.model_source=.* is not a model folder \(no config\.json",
    ):
        run_preflight(load_config(None, served(str(tmp_path / "missing"))), (teacher_endpoint,))
    (tmp_path / "config.json").write_text("{}")
    run_preflight(
        load_config(None, served(str(tmp_path))), (teacher_endpoint,)
    )  # passes, no request
    run_preflight(
        load_config(None, served("s3://bucket/llama")), (teacher_endpoint,)
    )  # fetched by vLLM
    run_preflight(
        load_config(None, served("Qwen/Qwen2.5-7B-Instruct")), (teacher_endpoint,)
    )  # hub id


def test_generation_check_passes_hf_and_installed_vllm(vllm_installed) -> None:
    run_preflight(load_config(None, []), (generation_backend,))
    run_preflight(load_config(None, ["eval.backend=vllm"]), (generation_backend,))
    assert serve_checks.generation_backend_problem("hf") is None
