"""`recycle generate` with eval.backend=vllm (Ray Data LLM's vLLM engine processor, on CPU) gives
the HF backend's answers: same prompts, greedy, same max_new_tokens and eos rule, same AlpacaEval
files, same "too long" rejects.

The model is a tiny Llama vLLM runs on CPU (head size 32), trained for a few seconds so its answers
end at eos on their own, in float32 on both sides. The test prints how many answers are identical
and every one that is not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recycle.cli.main import main
from recycle.rundir import read_manifest
from tests.support.rayllm import CPU_ENGINE, CPU_ENV, build_vllm_model, skip_without_ray_llm
from tests.support.tiny_model import alpaca_rows, train_model

pytestmark = [pytest.mark.integration, pytest.mark.rayllm, skip_without_ray_llm]

PER_SET = 8  # 40 questions
MAX_PROMPT = 200  # tokens: 5 of the 40 prompts are longer (217 to 592), and rejected
SETTINGS = ["eval.max_new_tokens=24", f"eval.max_prompt_tokens={MAX_PROMPT}", "eval.batch_size=8"]


@pytest.fixture(scope="module")
def trained_vllm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vllm_models")
    base = build_vllm_model(root)
    return train_model(root, base, alpaca_rows()[400:], steps=80)


def generate(model: Path, out: Path, backend: list[str]) -> tuple[list, list]:
    argv = ["generate", "--model", str(model), "--output", str(out), "eval.backend=" + backend[0]]
    assert main([*argv, f"eval.limit_per_set={PER_SET}", *SETTINGS, *backend[1:]]) == 0
    assert read_manifest(str(out))["invariant"]["ok"]
    answers = json.loads((out / "model_outputs.json").read_text())
    return answers, json.loads((out / "rejects.json").read_text())


def test_vllm_backend_answers_as_the_hf_backend(ray_llm, trained_vllm_model, tmp_path) -> None:
    vllm = ["vllm"] + [
        f"eval.vllm_engine_kwargs.{k}={json.dumps(v)}" for k, v in CPU_ENGINE.items()
    ]
    vllm += [f"eval.vllm_env_vars.{k}='{v}'" for k, v in CPU_ENV.items()]
    hf_answers, hf_rejects = generate(trained_vllm_model, tmp_path / "hf", ["hf"])
    vllm_answers, vllm_rejects = generate(trained_vllm_model, tmp_path / "vllm", vllm)

    assert vllm_rejects == hf_rejects and len(hf_rejects) == 5
    assert all(r["generation_error"].startswith("prompt_too_long: ") for r in vllm_rejects)
    keys = [(a["dataset"], a["instruction"], a["input"]) for a in hf_answers]
    assert keys == [(a["dataset"], a["instruction"], a["input"]) for a in vllm_answers]
    assert {a["generator"] for a in vllm_answers} == {trained_vllm_model.name}
    differ = [(h, v) for h, v in zip(hf_answers, vllm_answers, strict=True) if h != v]
    same = len(hf_answers) - len(differ)
    print(f"vLLM (Ray Data LLM) vs HF: {same}/{len(hf_answers)} answers identical")
    for h, v in differ:
        print(f"  {h['instruction'][:60]!r}\n    hf:   {h['output']!r}\n    vllm: {v['output']!r}")
    assert same >= 0.95 * len(hf_answers)
    assert any(len(a["output"]) > 0 for a in vllm_answers)
    hf_m, vllm_m = (read_manifest(str(tmp_path / b)) for b in ("hf", "vllm"))
    assert vllm_m["generation"]["hit_max_new_tokens"] < len(vllm_answers)  # some stopped at eos
    assert vllm_m["counts"] == hf_m["counts"]
