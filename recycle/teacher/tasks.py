"""The two reflection tasks: which columns they read, how they render the prompt, parse and write.

Rendering goes through `recycle.prompts.render_chat` (prompt text lives only in prompts/); each
task's parser (recycle/teacher/parse.py) sits beside it. A prompt that does not fit the teacher's
context with `max_tokens` to spare has the sample's response cut at its end, and is flagged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recycle import columns as C
from recycle.config.teacher import TeacherConfig
from recycle.data.normalize import query_text
from recycle.prompts import ChatPrompt, render_chat
from recycle.teacher import errors
from recycle.teacher import parse as teacher_parse
from recycle.teacher.client import estimate_tokens

FIT_ROUNDS = 4  # re-renders allowed to cut a response until the prompt fits
# The conversation forms of the two reflection prompts: the same texts with the earlier turns of a
# turn row (columns.TURN_HISTORY) given as context (pipeline/turns.py). A row without a history,
# or with an empty one, gets the single-turn prompt itself, byte for byte.
TURN_PROMPTS = {
    "reflect_instruction": "reflect_instruction_turn",
    "reflect_response": "reflect_response_turn",
}


def history_variables(row: dict[str, Any]) -> dict[str, Any] | None:
    """The prompt variables of a turn row's history (`system`, `turns`: [{user, assistant}]), or
    None when the row has none (a single sample, or the first turn without a system prompt)."""
    text = row.get(C.TURN_HISTORY)
    messages = json.loads(text) if isinstance(text, str) else []
    if not messages:
        return None
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    rest = messages[1:] if system else messages
    turns = [
        {"user": u["content"], "assistant": a["content"]}
        for u, a in zip(rest[0::2], rest[1::2], strict=True)
    ]
    return {"system": system, "turns": turns}


def render_reflection(name: str, row: dict[str, Any], **variables: str) -> ChatPrompt:
    """Prompt `name` for a row: its conversation form when the row has a history."""
    history = history_variables(row)
    if history is None:
        return render_chat(name, **variables)
    return render_chat(TURN_PROMPTS[name], **variables, **history)


@dataclass(frozen=True)
class Request:
    """A prompt ready to send, its completion budget, and whether the response was cut to fit."""

    prompt: ChatPrompt
    max_tokens: int
    truncated: bool


def fit_prompt(render: Callable[[str], ChatPrompt], response: str, cfg: TeacherConfig) -> Request:
    """Render with the whole response, or with its end cut so prompt + max_tokens fits the context.

    Raises:
        SampleRejected: the prompt does not fit even with the response cut away entirely.
    """
    prompt = render(response)
    if cfg.context_window is None:
        return Request(prompt, cfg.max_tokens, False)
    room = cfg.context_window - cfg.max_tokens
    kept = response
    for _ in range(FIT_ROUNDS):
        over = estimate_tokens(prompt.messages, cfg.chars_per_token) - room
        if over <= 0:
            return Request(prompt, cfg.max_tokens, kept != response)
        keep = len(kept) - math.ceil(over * cfg.chars_per_token)
        if keep <= 0:
            break
        kept = kept[:keep]
        prompt = render(kept)
    raise errors.SampleRejected(
        errors.PROMPT_TOO_LONG,
        f"the prompt needs more than teacher.context_window={cfg.context_window} minus "
        f"max_tokens={cfg.max_tokens} tokens even with the response cut",
    )


@dataclass(frozen=True)
class ReflectionTask:
    """What a reflection stage reads, renders, parses and writes; subclasses fill the specifics."""

    stage: str
    status_column: str
    raw_column: str
    truncated_column: str

    def reads(self) -> tuple[str, ...]:
        """Columns the task needs on entry."""
        raise NotImplementedError

    def optional_reads(self) -> tuple[str, ...]:
        """Columns the task reads where the batch has them: a turn row's history."""
        return (C.TURN_HISTORY,)

    def writes(self) -> tuple[str, ...]:
        """Text columns the task adds, besides status, raw and truncated."""
        raise NotImplementedError

    def request(self, row: dict[str, Any], cfg: TeacherConfig) -> Request:
        """The prompt for one row."""
        raise NotImplementedError

    def parse(self, text: str | None) -> teacher_parse.Parsed:
        """Parse an answer."""
        raise NotImplementedError

    def reflected(self, row: dict[str, Any], parsed: teacher_parse.Parsed) -> dict[str, str]:
        """The new texts of a well-formed answer."""
        raise NotImplementedError

    def original(self, row: dict[str, Any]) -> dict[str, str]:
        """The texts a sample keeps when its answer could not be parsed."""
        raise NotImplementedError


@dataclass(frozen=True)
class InstructionTask(ReflectionTask):
    """Reflection on the instruction: (x, y) -> (new instruction, new answer)."""

    stage: str = errors.STAGE_INSTRUCTION
    status_column: str = C.REFLECT_INSTRUCTION_STATUS
    raw_column: str = C.REFLECT_INSTRUCTION_RAW
    truncated_column: str = C.REFLECT_INSTRUCTION_TRUNCATED

    def reads(self) -> tuple[str, ...]:
        return (C.INSTRUCTION, C.INPUT, C.OUTPUT)

    def writes(self) -> tuple[str, ...]:
        return (C.NEW_INSTRUCTION, C.NEW_INPUT, C.NEW_OUTPUT)

    def request(self, row: dict[str, Any], cfg: TeacherConfig) -> Request:
        x = query_text(row[C.INSTRUCTION], row[C.INPUT] or "")
        return fit_prompt(
            lambda y: render_reflection("reflect_instruction", row, instruction=x, output=y),
            row[C.OUTPUT],
            cfg,
        )

    def parse(self, text: str | None) -> teacher_parse.Parsed:
        return teacher_parse.parse_instruction_reflection(text)

    def reflected(self, row: dict[str, Any], parsed: teacher_parse.Parsed) -> dict[str, str]:
        # The reflected instruction is self-contained: its input is folded into it.
        return {
            C.NEW_INSTRUCTION: parsed.fields[teacher_parse.NEW_INSTRUCTION],
            C.NEW_INPUT: "",
            C.NEW_OUTPUT: parsed.fields[teacher_parse.NEW_ANSWER],
        }

    def original(self, row: dict[str, Any]) -> dict[str, str]:
        return {
            C.NEW_INSTRUCTION: row[C.INSTRUCTION],
            C.NEW_INPUT: row[C.INPUT] or "",
            C.NEW_OUTPUT: row[C.OUTPUT],
        }


@dataclass(frozen=True)
class ResponseTask(ReflectionTask):
    """Reflection on the response of a chosen pair (x1, y1) -> better y; columns are parameters."""

    stage: str = errors.STAGE_RESPONSE
    status_column: str = C.REFLECT_RESPONSE_STATUS
    raw_column: str = C.REFLECT_RESPONSE_RAW
    truncated_column: str = C.REFLECT_RESPONSE_TRUNCATED
    instruction_column: str = C.INSTRUCTION
    input_column: str = C.INPUT
    output_column: str = C.OUTPUT

    def reads(self) -> tuple[str, ...]:
        return (self.instruction_column, self.input_column, self.output_column)

    def writes(self) -> tuple[str, ...]:
        return (C.BETTER_OUTPUT,)

    def request(self, row: dict[str, Any], cfg: TeacherConfig) -> Request:
        instruction, input_ = row[self.instruction_column], row[self.input_column] or ""
        if history_variables(row) is not None:  # a turn row: its input is "" (pipeline/turns.py)
            x = query_text(instruction, input_)

            def render(y: str) -> ChatPrompt:
                return render_reflection("reflect_response", row, instruction=x, output=y)
        elif input_:

            def render(y: str) -> ChatPrompt:
                return render_chat(
                    "reflect_response_with_input", instruction=instruction, input=input_, output=y
                )
        else:

            def render(y: str) -> ChatPrompt:
                return render_chat("reflect_response", instruction=instruction, output=y)

        return fit_prompt(render, row[self.output_column], cfg)

    def parse(self, text: str | None) -> teacher_parse.Parsed:
        return teacher_parse.parse_response_reflection(text)

    def reflected(self, row: dict[str, Any], parsed: teacher_parse.Parsed) -> dict[str, str]:
        return {C.BETTER_OUTPUT: parsed.fields[teacher_parse.BETTER_ANSWER]}

    def original(self, row: dict[str, Any]) -> dict[str, str]:
        return {C.BETTER_OUTPUT: row[self.output_column]}
