"""Scripted judges of the local server with a known bias, for tests of the evaluation's verdicts.

`alpaca_ranking_review` answers AlpacaEval 1.0's ranking prompt preferring the longer answer.
`alpaca_logprob_completion` answers AlpacaEval 2.0's classifier prompt (weighted_alpaca_eval_gpt4_
turbo) as its annotator reads it: one token, "m" (output_1, the reference) or "M" (output_2, the
model), with the log-probabilities of both, from `model_preference` (longer is likelier better).
`length_loving_review` scores each answer by its length plus a fixed per-answer noise: it prefers
the longer answer, and between answers of equal length it has no preference. Two models that
differ only in padding then get a raw win rate far from parity, while a verdict that controls for
length must stay at parity.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from recycle.testing.local_answers import completion, judge_answers

LENGTH_SCALE = 300.0  # characters at which the length bonus is tanh(1) of its maximum
LENGTH_BONUS = 3.0  # most points length adds
NOISE = 2.0  # width of the per-answer noise, in points


def _noise(text: str) -> float:
    """A fixed draw in [-0.5, 0.5) from the answer's text (the same answer, the same draw)."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:12], 16) / 16**12 - 0.5


def length_loving_score(answer: str) -> float:
    """5 + a bonus growing with the length + noise; one decimal, as a judge writes it."""
    return round(
        5 + LENGTH_BONUS * math.tanh(len(answer) / LENGTH_SCALE) + NOISE * _noise(answer), 1
    )


def length_loving_review(messages: list[dict[str, Any]]) -> str:
    """A pairwise review in the papers' format by `length_loving_score`."""
    user = str(messages[-1].get("content") or "")
    answers = judge_answers(user)
    if answers is None:
        return "I cannot find the two answers."
    s1, s2 = (length_loving_score(a) for a in answers)
    return f"{s1} {s2}\nScripted review: the longer answer is the better one."


_ALPACA_ANSWER = re.compile(r'"answer": """(.*?)"""', re.DOTALL)


def alpaca_ranking_review(messages: list[dict[str, Any]]) -> str:
    """An AlpacaEval 1.0 ranking (alpaca_eval_gpt4's format) that ranks the longer answer first."""
    user = str(messages[-1].get("content") or "")
    answers = _ALPACA_ANSWER.findall(user)
    if len(answers) != 2:
        return "I cannot find the two answers."
    first = 1 if len(answers[0].strip()) >= len(answers[1].strip()) else 2
    return f"[{{'model': 'model_1', 'rank': {first}}}, {{'model': 'model_2', 'rank': {3 - first}}}]"


_CLF_FIELD = re.compile(r'"(?:instruction|output)": """(.*?)"""', re.DOTALL)


def clf_fields(messages: list[dict[str, Any]]) -> tuple[str, str, str] | None:
    """(instruction, output_1, output_2) of AlpacaEval 2.0's classifier prompt, or None."""
    fields = _CLF_FIELD.findall(str(messages[-1].get("content") or ""))
    return (fields[0], fields[1], fields[2]) if len(fields) == 3 else None


def model_preference(output_1: str, output_2: str) -> float:
    """Probability that output_2 (the model, "M") is the better: sigmoid(2 tanh(length
    difference / LENGTH_SCALE)); 0.5 at equal length."""
    return 1 / (1 + math.exp(-2 * math.tanh((len(output_2) - len(output_1)) / LENGTH_SCALE)))


def alpaca_logprob_completion(
    body: dict[str, Any], text: str, messages: list[dict[str, Any]], finish_reason: str = "stop"
) -> dict[str, Any]:
    """A chat completion for AlpacaEval 2.0's classifier prompt: the likelier token of "m" and "M"
    with both in top_logprobs (log p of each by `model_preference`); any other prompt as
    `completion` answers it. For `LocalTeacherServer`'s completion (a test sets it)."""
    fields = clf_fields(messages)
    if fields is None:
        return completion(body, text, messages, finish_reason)
    p = model_preference(fields[1], fields[2])
    top = [_token("m", math.log(1 - p)), _token("M", math.log(p))]
    token = "M" if p >= 0.5 else "m"
    out = completion(body, token, messages, finish_reason)
    out["choices"][0]["logprobs"] = {
        "content": [{**_token(token, top[token == "M"]["logprob"]), "top_logprobs": top}]
    }
    return out


def _token(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}
