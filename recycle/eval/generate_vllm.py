"""Greedy answers through Ray Data LLM: `eval.backend=vllm` of `recycle generate`.

The HF backend's rules, on vLLM's engine: the prompt ids are built in the driver by the same code
(`plan_prompts`: `[start] + tok(T(x))`, too-long prompts settled there with their reason, never
sent), handed to vLLM as token ids (Ray Data LLM's chat-template, tokenize and detokenize stages
off), decoded greedily (temperature 0, `eval.max_new_tokens`, stop at the tokenizer's eos), and the
new ids decoded by the same function as the HF path (`decoded`). A request vLLM fails on becomes
the reason `vllm_error`, not a lost question.

Placement: CPU bundles (`student.num_cpus_per_actor` each, vLLM's "uni" executor) when the actors
get no GPU, else Ray Data LLM's GPU default. vllm is imported only here, when the backend is used.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from recycle.config import RecycleConfig
from recycle.config.student import StudentConfig
from recycle.eval import columns as E
from recycle.eval.generate import Answer, decoded, plan_prompts

PROMPT = "tokenized_prompt"  # Ray Data LLM's input column of prompt ids
GENERATED = "generated_tokens"  # its output column of new ids
ENGINE_ERROR = "__inference_error__"  # its error column (should_continue_on_error)
VLLM_ERROR = "vllm_error"


def sampling_params(max_new_tokens: int, eos_id: int | None) -> dict[str, Any]:
    """Greedy decoding, at most `max_new_tokens`, stopping at the tokenizer's eos (as HF does)."""
    params: dict[str, Any] = {"temperature": 0.0, "top_p": 1.0, "max_tokens": max_new_tokens}
    if eos_id is not None:
        params["stop_token_ids"] = [eos_id]
    return params


def vllm_dtype(student: StudentConfig, num_gpus: float) -> str:
    """The engine's dtype: student.dtype, or (auto) bfloat16 on GPU and float32 on CPU, as HF."""
    if student.dtype != "auto":
        return student.dtype
    return "bfloat16" if num_gpus > 0 else "float32"


def processor_kwargs(
    cfg: RecycleConfig, student: StudentConfig, max_model_len: int, num_gpus: float
) -> dict[str, Any]:
    """The arguments of `ray.data.llm.vLLMEngineProcessorConfig` (pure, testable without vllm)."""
    engine: dict[str, Any] = {
        "dtype": vllm_dtype(student, num_gpus),
        "max_model_len": max_model_len,
        **cfg.eval.vllm_engine_kwargs,
    }
    kwargs: dict[str, Any] = {
        "model_source": student.model,
        "engine_kwargs": engine,
        "batch_size": cfg.eval.rows_per_call,
        "concurrency": cfg.eval.num_actors,
        "chat_template_stage": False,
        "tokenize_stage": False,
        "detokenize_stage": False,
        "should_continue_on_error": True,
    }
    if num_gpus == 0:
        engine.setdefault("distributed_executor_backend", "uni")  # "ray" does not run on CPU
        kwargs["placement_group_config"] = {"bundles": [{"CPU": student.num_cpus_per_actor}]}
    if cfg.eval.vllm_env_vars:
        kwargs["runtime_env"] = {"env_vars": dict(cfg.eval.vllm_env_vars)}
    return kwargs


def _request(row: dict[str, Any], sampling: dict[str, Any]) -> dict[str, Any]:
    return {E.QUESTION_ID: row[E.QUESTION_ID], PROMPT: row[PROMPT], "sampling_params": sampling}


def _result(row: dict[str, Any]) -> dict[str, Any]:
    return {
        E.QUESTION_ID: row[E.QUESTION_ID],
        GENERATED: [int(t) for t in row[GENERATED]],
    }


def engine_answers(
    kwargs: dict[str, Any], requests: list[dict[str, Any]], sampling: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Run the requests (question id + prompt ids) through the vLLM engine processor; by id."""
    import ray
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    processor = build_processor(
        vLLMEngineProcessorConfig(**kwargs),
        preprocess=partial(_request, sampling=sampling),
        postprocess=_result,
    )
    rows = processor(ray.data.from_items(requests)).take_all()
    return {r[E.QUESTION_ID]: r for r in rows}


def as_answer(tokenizer: Any, result: dict[str, Any] | None) -> Answer:
    """The answer of one engine result (decoded as the HF path decodes), or its failure."""
    if result is None:
        return Answer("", 0, f"{VLLM_ERROR}: no result came back for this question")
    if result.get(ENGINE_ERROR):  # failed rows skip the postprocess: read them as they come
        return Answer("", 0, f"{VLLM_ERROR}: {result[ENGINE_ERROR]}")
    return decoded(tokenizer, [int(t) for t in result[GENERATED]])


def vllm_answers(
    cfg: RecycleConfig,
    student: StudentConfig,
    tokenizer: Any,
    questions: list[dict[str, Any]],
    limits: tuple[int, int],
    num_gpus: float,
) -> list[Answer]:
    """Greedy answers of `questions` (in their order) through Ray Data LLM.

    Args:
        limits: (longest prompt allowed, the engine's max_model_len).
    """
    pairs = [(q[E.INSTRUCTION], q[E.INPUT]) for q in questions]
    prompts, answers = plan_prompts(tokenizer, pairs, student.template, limits[0])
    ids = [q[E.QUESTION_ID] for q in questions]
    todo = [i for i in range(len(prompts)) if i not in answers]
    if todo:
        sampling = sampling_params(cfg.eval.max_new_tokens, tokenizer.eos_token_id)
        kwargs = processor_kwargs(cfg, student, limits[1], num_gpus)
        requests = [{E.QUESTION_ID: ids[i], PROMPT: prompts[i]} for i in todo]
        results = engine_answers(kwargs, requests, sampling)
        for i in todo:
            answers[i] = as_answer(tokenizer, results.get(ids[i]))
    return [answers[i] for i in range(len(prompts))]
