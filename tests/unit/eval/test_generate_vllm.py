"""The vLLM backend's pure parts: what Ray Data LLM is asked for, and how its results read.

The backend itself runs against a real vLLM in tests/integration/rayllm/test_vllm_generate.py
(the Ray LLM environment); here only what can be checked without vllm.
"""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from recycle.config import load_config
from recycle.config.student import StudentConfig
from recycle.eval.generate import PROMPT_TOO_LONG, decoded, plan_prompts, prompt_ids
from recycle.eval.generate_vllm import (
    ENGINE_ERROR,
    GENERATED,
    VLLM_ERROR,
    as_answer,
    processor_kwargs,
    sampling_params,
)


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_greedy_sampling_stops_at_the_tokenizers_eos() -> None:
    assert sampling_params(24, 2) == {
        "temperature": 0.0,
        "top_p": 1.0,
        "max_tokens": 24,
        "stop_token_ids": [2],
    }
    assert "stop_token_ids" not in sampling_params(24, None)


def test_cpu_processor_takes_prompt_ids_on_cpu_bundles() -> None:
    cfg = load_config(None, ["eval.rows_per_call=32", "eval.num_actors=2", "eval.vllm_engine_kwargs.enforce_eager=true", "eval.vllm_env_vars.VLLM_CPU_KVCACHE_SPACE='1'"])  # fmt: skip
    kwargs = processor_kwargs(cfg, StudentConfig(model="/m", num_cpus_per_actor=2), 512, 0.0)
    assert kwargs == {
        "model_source": "/m",
        "engine_kwargs": {
            "dtype": "float32",  # as the HF backend on CPU
            "max_model_len": 512,
            "enforce_eager": True,
            "distributed_executor_backend": "uni",
        },
        "batch_size": 32,
        "concurrency": 2,
        "chat_template_stage": False,  # the prompt ids are built by plan_prompts, as for HF
        "tokenize_stage": False,
        "detokenize_stage": False,
        "should_continue_on_error": True,
        "placement_group_config": {"bundles": [{"CPU": 2.0}]},
        "runtime_env": {"env_vars": {"VLLM_CPU_KVCACHE_SPACE": "1"}},
    }


def test_gpu_processor_keeps_ray_data_llms_gpu_placement() -> None:
    kwargs = processor_kwargs(load_config(None, []), StudentConfig(model="/m"), 4096, 1.0)
    assert kwargs["engine_kwargs"] == {"dtype": "bfloat16", "max_model_len": 4096}
    assert "placement_group_config" not in kwargs and "runtime_env" not in kwargs


def test_results_read_as_the_hf_backend_reads_them(tok) -> None:
    ids = tok.encode(" a short answer", add_special_tokens=False)
    result = {GENERATED: [*ids, tok.eos_token_id, 7]}
    assert as_answer(tok, result) == decoded(tok, result[GENERATED])
    assert as_answer(tok, result).text == "a short answer"
    assert as_answer(tok, result).tokens == len(ids)
    failed = as_answer(tok, {GENERATED: [], ENGINE_ERROR: "engine died"})
    assert failed.error == f"{VLLM_ERROR}: engine died" and failed.text == ""
    assert as_answer(tok, None).error.startswith(f"{VLLM_ERROR}: no result")


def test_too_long_prompts_are_settled_before_any_engine(tok) -> None:
    questions = [("Name a color.", ""), ("Summarize: " + "words " * 200, "")]
    prompts, settled = plan_prompts(tok, questions, "vicuna", 64)
    assert prompts[0] == prompt_ids(tok, "vicuna", "Name a color.", "")
    assert list(settled) == [1] and settled[1].error.startswith(f"{PROMPT_TOO_LONG}: ")
    assert "more than the 64 allowed (eval.max_prompt_tokens)" in settled[1].error
