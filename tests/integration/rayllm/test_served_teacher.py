"""The served teacher for real: `recycle run` starts vLLM behind Ray Serve LLM (on CPU), the
teacher stages ask it, and it is gone when the run ends, also on Ctrl-C while it starts.

The tiny model's answers are noise, so nothing parses: every sample ends kept unreflected with its
parse status. What proves the stages asked the served model: each cached answer carries the prompt
tokens vLLM counted, under the served model's name.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from recycle import columns as C
from recycle.cli.main import main
from recycle.config import load_config
from recycle.rundir import read_manifest, read_outcome
from recycle.teacher import serve as serve_module
from recycle.teacher.serve import llm_config_kwargs, serving
from tests.support.rayllm import (
    CPU_ENGINE,
    CPU_ENV,
    LOGICAL_CPUS,
    build_vllm_model,
    free_port,
    skip_without_ray_llm,
)
from tests.support.tiny_model import alpaca_rows

pytestmark = [pytest.mark.integration, pytest.mark.rayllm, skip_without_ray_llm]

CONFIG = Path(__file__).resolve().parents[3] / "jobs" / "configs" / "vllm_teacher_served.yaml"
SAMPLES = 6
BUNDLES = "placement_group_bundles"
CONTEXT = 2048  # the authors' reflection prompts take ~500 of the tiny tokenizer's tokens


def served_on_cpu(model: Path, port: int) -> list[str]:
    """The overrides that move the shipped served-teacher config onto this machine's CPUs."""
    engine = [f"teacher.serve.engine_kwargs.{k}={json.dumps(v)}" for k, v in CPU_ENGINE.items()]
    env = [f"teacher.serve.env_vars.{k}='{v}'" for k, v in CPU_ENV.items()]
    return [
        f"teacher.serve.model_source='{model}'", "teacher.serve.device=cpu",
        "teacher.serve.accelerator_type=null", "teacher.serve.tensor_parallel_size=1",
        f"teacher.serve.max_model_len={CONTEXT}", "teacher.serve.http_host=127.0.0.1",
        f"teacher.serve.http_port={port}", "teacher.serve.startup_timeout_s=600", *engine, *env,
    ]  # fmt: skip


def serve_state(ray, settle_s: float = 30.0) -> tuple[dict, float]:
    """Serve's applications and the free CPUs, once the CPUs are all back (or `settle_s` passed):
    Ray returns a killed actor's resources a moment after `serve.delete` returns."""
    from ray import serve

    deadline = time.monotonic() + settle_s
    while ray.available_resources().get("CPU", 0.0) < LOGICAL_CPUS and time.monotonic() < deadline:
        time.sleep(0.5)
    return dict(serve.status().applications), ray.available_resources().get("CPU", 0.0)


def test_recycle_run_serves_the_teacher_and_removes_it(ray_llm, tmp_path, tiny_model_dir) -> None:
    data, out = tmp_path / "data.jsonl", tmp_path / "run"
    data.write_text("".join(json.dumps(r) + "\n" for r in alpaca_rows(SAMPLES)))
    teacher = build_vllm_model(tmp_path / "models")
    code = main([
        "run", str(CONFIG), f"data.input='{data}'", f"output.dir='{out}'",
        "teacher.cache_dir=null", f"student.model='{tiny_model_dir}'", "student.num_actors=1",
        "student.max_length=512", "teacher.num_actors=1", "teacher.concurrency=4",
        "teacher.max_tokens=32", "teacher.chars_per_token=2.0",  # the tiny tokenizer's are short
        "teacher.timeout_s=120", "teacher.max_parse_retries=0",
        "output.report_stats=false", "selection.require_response_reflected=false",
        *served_on_cpu(teacher, free_port()),
    ])  # fmt: skip
    assert code == 0
    manifest = read_manifest(str(out))
    assert manifest["status"] == "finished" and manifest["invariant"]["ok"]
    served = manifest["teacher"]["served"]
    print(f"Ray Serve LLM start-up: {served['startup_s']} s; deployments {served['deployments']}")
    assert served["app"] == "recycle-teacher" and served["device"] == "cpu"
    assert served["deployments"] == ["LLMServer:llama-3_1-70b-instruct", "OpenAiIngress"]
    assert served["startup_s"] > 0
    assert manifest["teacher"]["base_url"].startswith("http://127.0.0.1:")

    parts = (read_outcome(str(out), o) for o in (C.OUTCOME_KEPT, C.OUTCOME_DROPPED))
    finished = [r for part in parts if part is not None for r in part.to_pylist()]
    assert len(finished) == SAMPLES  # nothing parses: each keeps its text, with the parse failure
    assert all(r[C.REFLECT_INSTRUCTION_STATUS].startswith("parse_") for r in finished)
    entries = [json.loads(p.read_text()) for p in (out / "teacher_cache").rglob("*.json")]
    assert len(entries) == 2 * SAMPLES  # two reflections a sample, each answered by vLLM
    assert all(e["answer"]["prompt_tokens"] > 0 for e in entries)
    assert serve_state(ray_llm) == ({}, float(LOGICAL_CPUS))


def test_ctrl_c_while_the_teacher_starts_removes_the_deployment(
    ray_llm, tmp_path, monkeypatch
) -> None:
    """Ctrl-C while vLLM loads (minutes for a large model): the half-started deployment goes."""
    model = build_vllm_model(tmp_path / "models")
    seen = []

    def interrupted_while_deploying(app_name: str) -> tuple[str, str]:
        status = real_status(app_name)
        seen.append(status[0])
        if status[0] == "DEPLOYING":
            raise KeyboardInterrupt  # what Ctrl-C raises in the driver
        return status

    real_status = serve_module.app_status
    monkeypatch.setattr(serve_module, "app_status", interrupted_while_deploying)
    overrides = ["teacher.model=tiny", "teacher.max_tokens=32", *served_on_cpu(model, free_port())]
    cfg = load_config(None, overrides).teacher
    with pytest.raises(KeyboardInterrupt), serving(cfg):
        pytest.fail("the block must not be entered before the teacher answers")
    assert seen[-1] == "DEPLOYING"
    assert serve_state(ray_llm) == ({}, float(LOGICAL_CPUS))


def test_ray_serve_llm_places_what_the_config_asks(ray_llm) -> None:
    from ray.serve.llm import LLMConfig, LLMServer

    def options(overrides: list[str]) -> tuple[str, list[dict]]:
        llm = LLMConfig(**llm_config_kwargs(load_config(None, overrides).teacher))
        return llm.accelerator_config.kind, LLMServer.get_deployment_options(llm)[BUNDLES]

    cpu = ["teacher.serve.model_source=/m", "teacher.serve.device=cpu"]
    assert options(cpu) == ("cpu", [{"CPU": 2.0, "GPU": 0}])  # the replica's own CPU added
    gpu = ["teacher.serve.model_source=/m", "teacher.serve.accelerator_type=H100"]
    kind, bundles = options([*gpu, "teacher.serve.tensor_parallel_size=2"])
    assert kind == "gpu" and [b["GPU"] for b in bundles] == [1, 1]
    assert all(b["accelerator_type:H100"] > 0 for b in bundles)
