"""Scripted answers of the local teacher: deterministic, derived from the sample, in the papers' format.

The answers vary their formatting the way real teachers do (bold markers, a missing `[End]`,
`New Instruction:` without brackets), chosen by a hash of the prompt, so the demo exercises the
parser's tolerance while staying reproducible.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from typing import Any

_SECTION = re.compile(
    r"\[Instruction\]\n(?P<ins>.*?)\n\n(?:\[The Start of Input\]\n(?P<inp>.*?)\n\n\[The End of Input\]\n\n)?\[The Start of Answer\]\n(?P<out>.*?)\n\n\[The End of Answer\]",
    re.DOTALL,
)
_ASPECTS = (
    "the underlying reasons",
    "a worked example",
    "the trade-offs involved",
    "common mistakes to avoid",
)


def _user_text(messages: list[dict[str, Any]]) -> str:
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    return users[-1] if users else ""


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def _sample(user: str) -> tuple[str, str, str]:
    m = _SECTION.search(user)
    if m is None:
        return user.strip()[:200], "", ""
    return m.group("ins").strip(), (m.group("inp") or "").strip(), m.group("out").strip()


def _first_sentence(text: str, limit: int = 160) -> str:
    head = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return head if len(head) <= limit else head[: limit - 3] + "..."


def instruction_reflection(user: str) -> str:
    """A reflection on the instruction: analysis, then `[New Instruction]` and `[New Answer]`."""
    instruction, input_, output = _sample(user)
    h = _digest(user)
    aspect = _ASPECTS[h % len(_ASPECTS)]
    topic = " ".join(f"{instruction} {input_}".split())[:300].rstrip(".?!:;, ")
    new_instruction = f"{topic}. Explain your answer in detail, covering {aspect}, and finish with a one-sentence summary."
    new_answer = (
        f"{output}\n\nIn more detail, considering {aspect}: {_first_sentence(output)} "
        f"This matters because it makes the answer complete and directly usable.\n\n"
        f"Summary: {_first_sentence(output, 120)}"
    )
    analysis = (
        "1. The instruction is short and leaves the expected level of detail open, so the answer "
        "stays general and omits reasoning and examples."
    )
    style = (h >> 8) % 4
    if style == 0:
        return f"{analysis}\n2. [New Instruction] {new_instruction} [End]\n3. [New Answer] {new_answer} [End]"
    if style == 1:
        return f"{analysis}\n\n2. **[New Instruction]** {new_instruction} **[End]**\n\n3. **[New Answer]** {new_answer}"
    if style == 2:
        return (
            f"{analysis}\n2. [New Instruction] {new_instruction} [End]3. [New Answer] {new_answer}"
        )
    return f"{analysis}\n\nNew Instruction: {new_instruction}\n\nNew Answer: {new_answer}"


def response_reflection(user: str) -> str:
    """A reflection on the response: analysis, then `[Better Answer]`."""
    instruction, _, output = _sample(user)
    h = _digest(user)
    aspect = _ASPECTS[h % len(_ASPECTS)]
    better = (
        f'{output}\n\nTo answer "{_first_sentence(instruction, 100)}" fully, consider also {aspect}: '
        f"{_first_sentence(output)} Each point above follows from the question as asked."
    )
    analysis = (
        "1. The answer is relevant and accurate but brief; it lacks detail and justification."
    )
    if (h >> 8) % 3 == 0:
        return f"{analysis}\n2. **[Better Answer]** {better}"
    return f"{analysis}\n2. [Better Answer] {better} [End]"


_JUDGE = re.compile(
    r"\[The Start of Assistant 1's Answer\]\n(?P<a1>.*?)\n\n\[The End of Assistant 1's Answer\]"
    r"\n\n\[The Start of Assistant 2's Answer\]\n(?P<a2>.*?)\n\n\[The End of Assistant 2's Answer\]",
    re.DOTALL,
)


def judge_answers(user: str) -> tuple[str, str] | None:
    """(Assistant 1's answer, Assistant 2's) in a pairwise judge prompt; None when not one."""
    m = _JUDGE.search(user)
    return None if m is None else (m.group("a1"), m.group("a2"))


def judge_review(user: str) -> str:
    """A pairwise review: first line the two scores, from each answer's distinct words (1 to 10)."""
    answers = judge_answers(user)
    if answers is None:
        return "I cannot find the two answers."
    s1, s2 = (min(10, 1 + len(set(a.split())) // 8) for a in answers)
    return f"{s1} {s2}\nScripted review: Assistant 1 scores {s1}, Assistant 2 scores {s2}, by the variety of their words."


class ReplayAnswers:
    """Answers recorded for given prompts (user message -> answer), e.g. a real judge's reviews.

    A prompt recorded with several answers keeps the first one: a server at temperature 0 that
    answers a prompt once, as a cached client sees it. An unknown prompt gets `missing`.
    """

    def __init__(self, recorded: list[tuple[str, str]], missing: str = "no recorded answer"):
        self.answers: dict[str, str] = {}
        for user, answer in recorded:
            self.answers.setdefault(user, answer)
        self.missing = missing

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        return self.answers.get(_user_text(messages), self.missing)


def default_answer(messages: list[dict[str, Any]]) -> str:
    """Answer a reflection prompt in the papers' format, a judge prompt with two scores; anything
    else gets a plain reply."""
    user = _user_text(messages)
    if "[The Start of Assistant 1's Answer]" in user:
        return judge_review(user)
    if "[Better Answer]" in user:
        return response_reflection(user)
    if "[New Instruction]" in user:
        return instruction_reflection(user)
    return f"Local teacher reply ({_digest(user):08x})."


def unformatted_answer(messages: list[dict[str, Any]]) -> str:
    """An answer that ignores the requested format (no markers at all), as real teachers sometimes do."""
    instruction, _, _ = _sample(_user_text(messages))
    return f'Here is some feedback on the instruction "{_first_sentence(instruction, 80)}": it could be more specific.'


def error_body(message: str, code: str) -> dict[str, Any]:
    """An OpenAI-style error payload."""
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def completion(
    body: dict[str, Any], text: str, messages: list[dict[str, Any]], finish_reason: str = "stop"
) -> dict[str, Any]:
    """A chat completion answering `text`, with token counts estimated at 4 characters a token."""
    prompt_tokens = math.ceil(sum(len(str(m.get("content") or "")) for m in messages) / 4)
    completion_tokens = math.ceil(len(text) / 4)
    return {
        "id": f"chatcmpl-local-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
