"""Greedy answers of a model to test questions: the pure core (prompts, batched greedy decoding).

The prompt of a question is built exactly as training builds the prefix of a sample
(`recycle.train.samples`): `[start] + tok(T(x))`, T the student template, x the instruction plus
its input (IFD's x), through the shared sequence code, so a model is asked in the form it was
trained on. Batches are sorted by prompt length and left-padded, decoding is greedy and stops at
eos or after `max_new_tokens`; the answer is the decoded new tokens, eos excluded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recycle.student.sequences import pad_token_id, prompt_prefix, start_token_id, tokenize

PROMPT_TOO_LONG = "prompt_too_long"


@dataclass(frozen=True)
class Answer:
    """One generated answer: its text, how many tokens it took, and an error reason ("" when fine)."""

    text: str
    tokens: int
    error: str = ""


def prompt_ids(tokenizer: Any, template: str, instruction: str, input_: str) -> list[int]:
    """[start] + tok(T(x)): the prefix training puts before the response of this question."""
    prefix = prompt_prefix(template, instruction, tokenizer, input_)
    return [start_token_id(tokenizer), *tokenize(tokenizer, [prefix])[0]]


def left_padded(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """(input_ids, attention_mask), both (B, T), prompts right-aligned; pads masked out."""
    import torch

    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)  # (B, T)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(list(p), dtype=torch.long)
        mask[i, width - len(p) :] = 1
    return ids, mask


def cut_at_eos(new_ids: Sequence[int], eos_id: int | None) -> list[int]:
    """The generated ids up to (without) the first eos; padding after it goes too."""
    out = list(new_ids)
    return out[: out.index(eos_id)] if eos_id is not None and eos_id in out else out


def greedy_batch(
    model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int
) -> list[list[int]]:
    """Greedy new tokens of each prompt, decoded together (left padding), each cut at eos."""
    import torch

    ids, mask = left_padded(prompts, pad_token_id(tokenizer))
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            do_sample=False,
            num_beams=1,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_token_id(tokenizer),
            eos_token_id=tokenizer.eos_token_id,
        )  # (B, T + new)
    new = out[:, ids.shape[1] :].tolist()
    return [cut_at_eos(row, tokenizer.eos_token_id) for row in new]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so padding stays small."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def plan_prompts(
    tokenizer: Any,
    questions: Sequence[tuple[str, str]],
    template: str,
    max_prompt_tokens: int,
) -> tuple[list[list[int]], dict[int, Answer]]:
    """The prompt ids of every question, and the answers already settled: prompts too long.

    A prompt longer than `max_prompt_tokens` is not cut (the model would answer another question):
    it gets no answer and the reason `prompt_too_long`. Both backends use this one rule.
    """
    prompts = [prompt_ids(tokenizer, template, ins, inp) for ins, inp in questions]
    settled: dict[int, Answer] = {}
    for i, p in enumerate(prompts):
        if len(p) > max_prompt_tokens:
            detail = f"{len(p)} prompt tokens, more than the {max_prompt_tokens} allowed (eval.max_prompt_tokens)"
            settled[i] = Answer("", 0, f"{PROMPT_TOO_LONG}: {detail}")
    return prompts, settled


def decoded(tokenizer: Any, new_ids: Sequence[int]) -> Answer:
    """The answer of generated ids: cut at eos, decoded without special tokens, stripped."""
    ids = cut_at_eos(new_ids, tokenizer.eos_token_id)
    return Answer(tokenizer.decode(ids, skip_special_tokens=True).strip(), len(ids))


def generate_answers(
    model: Any,
    tokenizer: Any,
    questions: Sequence[tuple[str, str]],
    template: str,
    max_new_tokens: int,
    batch_size: int,
    max_prompt_tokens: int,
) -> list[Answer]:
    """Greedy answers to (instruction, input) questions, in their order (see plan_prompts)."""
    prompts, answers = plan_prompts(tokenizer, questions, template, max_prompt_tokens)
    fits = [i for i in range(len(prompts)) if i not in answers]
    for batch in length_sorted_batches([len(prompts[i]) for i in fits], batch_size):
        idx = [fits[j] for j in batch]
        new = greedy_batch(model, tokenizer, [prompts[i] for i in idx], max_new_tokens)
        for i, ids in zip(idx, new, strict=True):
            answers[i] = decoded(tokenizer, ids)
    return [answers[i] for i in range(len(prompts))]
