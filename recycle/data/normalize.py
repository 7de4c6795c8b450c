"""Turn one raw record into a normalized sample, or into a reject with a reason. Pure functions.

Two kinds of rows come out:

- single-turn samples: an Alpaca row (`instruction`, `input`, `output`), or a ShareGPT
  (`conversations`: `from`/`value`) or `messages` (`role`/`content`) row with exactly one
  user -> assistant exchange and no system prompt. `messages` is null; `sample_id` hashes
  (instruction, input, output). This is the papers' case, unchanged.
- conversations: a chat row with several exchanges, or with a (non-empty) system prompt. The
  `messages` column holds the normalized conversation as JSON text (data/conversation.py: an
  optional leading system message, then user and assistant turns alternating, ending with an
  assistant turn, every text stripped), and `sample_id` hashes the whole conversation.
  `instruction` and `output` hold the LAST exchange (u_n, a_n) and `input` is "", so that code
  that only knows single samples treats a conversation as its last exchange without history
  (the cheap `turns: last` view); code that knows conversations reads `messages`.

A chat row is rejected with a reason when its roles are out of order (a system prompt after the
first turn, two user or two assistant turns in a row, no answer at the end), when a user turn
or an assistant turn is empty, or when it holds a tool call or tool result (roles `tool`,
`function`, `observation`..., or an assistant `tool_calls` / `function_call`): the student
templates render text turns only. An empty system prompt counts as none.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow as pa

from recycle import columns as C
from recycle.data.conversation import ASSISTANT, SYSTEM, USER, conversation_id, to_json

# Reject reasons of the validate stage.
UNPARSEABLE = "unparseable_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
NON_STRING_FIELD = "non_string_field"
EMPTY_INSTRUCTION = "empty_instruction"
EMPTY_OUTPUT = "empty_output"
MULTI_TURN = "multi_turn"  # no longer produced: conversations are accepted (kept for old runs)
BAD_CONVERSATION = "bad_conversation"
TOOL_CALL = "tool_call"
DUPLICATE = "duplicate"
STAGE = "validate"

# Every normalized row, kept or rejected: these columns, all strings (null where a reject has none).
SAMPLE_SCHEMA = pa.schema(
    [
        (name, pa.string())
        for name in (
            C.SAMPLE_ID, C.INSTRUCTION, C.INPUT, C.OUTPUT, C.SOURCE, C.RAW,
            C.OUTCOME, C.REASON, C.DETAIL, C.STAGE, C.MESSAGES,
        )
    ]
)  # fmt: skip

USER_ROLES = {"user", "human"}
ASSISTANT_ROLES = {"assistant", "gpt", "chatgpt", "bard", "bing", "model"}
SYSTEM_ROLES = {"system"}
TOOL_ROLES = {"tool", "function", "function_call", "observation", "ipython", "tool_call"}
TOOL_KEYS = ("tool_calls", "function_call")  # an assistant message that calls a tool


class Reject(Exception):
    """Why a record cannot become a sample."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def sample_id(instruction: str, input_: str, output: str) -> str:
    """Content hash of a sample: equal content, equal id, whatever the order or the run."""
    blob = json.dumps([instruction, input_, output], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def query_text(instruction: str, input_: str) -> str:
    """x of IFD(y|x) (README, How it works): the instruction, plus a newline and the input when there is one."""
    return f"{instruction}\n{input_}" if input_ else instruction


def normalize_record(raw: str, source: str, parse_error: str = "") -> dict[str, Any]:
    """Normalize one raw record; never raises: bad records come back as rejected rows."""
    try:
        if parse_error:
            raise Reject(UNPARSEABLE, parse_error)
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise Reject(UNPARSEABLE, f"{err.msg} at column {err.colno}") from None
        if not isinstance(obj, dict):
            raise Reject(NOT_AN_OBJECT, f"a sample must be a JSON object, got {type(obj).__name__}")
        instruction, input_, output, messages = _fields(obj)
    except Reject as rej:
        return _rejected(raw, source, rej.reason, rej.detail)
    return {
        C.SAMPLE_ID: (
            conversation_id(messages) if messages else sample_id(instruction, input_, output)
        ),
        C.INSTRUCTION: instruction,
        C.INPUT: input_,
        C.OUTPUT: output,
        C.SOURCE: source,
        C.RAW: raw,
        C.OUTCOME: C.OUTCOME_KEPT,
        C.REASON: "",
        C.DETAIL: "",
        C.STAGE: "",
        C.MESSAGES: to_json(messages) if messages else None,
    }


def _rejected(raw: str, source: str, reason: str, detail: str) -> dict[str, Any]:
    rid = "raw-" + hashlib.sha256(f"{source}\0{raw}".encode()).hexdigest()[:16]
    return {
        C.SAMPLE_ID: rid,
        C.INSTRUCTION: None,
        C.INPUT: None,
        C.OUTPUT: None,
        C.SOURCE: source,
        C.RAW: raw,
        C.OUTCOME: C.OUTCOME_REJECTED,
        C.REASON: reason,
        C.DETAIL: detail,
        C.STAGE: STAGE,
        C.MESSAGES: None,
    }


def _final_texts(obj: dict[str, Any]) -> dict[str, Any]:
    """A row of a run directory (kept/, which `recycle train` and `end-to-end` fine-tune on, or the
    input of a second round) is its FINAL sample: the pair the selection chose (x2, y2), or the
    reassembled conversation, not the original texts kept beside them for the report."""
    final_chat = obj.get(C.FINAL_MESSAGES)
    if isinstance(final_chat, str) and final_chat:
        return {**obj, "messages": final_chat}
    if isinstance(obj.get(C.FINAL_INSTRUCTION), str) and isinstance(obj.get(C.FINAL_OUTPUT), str):
        final_input = obj.get(C.FINAL_INPUT)
        return {**obj, "instruction": obj[C.FINAL_INSTRUCTION], "output": obj[C.FINAL_OUTPUT],
                "input": final_input if isinstance(final_input, str) else ""}  # fmt: skip
    return obj


def _fields(obj: dict[str, Any]) -> tuple[str, str, str, list[dict[str, str]] | None]:
    """(instruction, input, output, messages); messages is None for a single-turn sample."""
    obj = _final_texts(obj)
    chat = obj.get("conversations", obj.get("messages"))
    if isinstance(chat, str) and "instruction" in obj:
        chat = _json_list(chat)  # a row this project wrote: `messages` is JSON text
    is_chat = "instruction" not in obj and ("conversations" in obj or "messages" in obj)
    if chat is not None or is_chat:
        return _chat_fields(chat, obj.get("system"))
    for key in ("instruction", "output"):
        if key not in obj:
            raise Reject(MISSING_FIELD, f"field {key!r} is missing (have: {sorted(obj)})")
    input_ = obj.get("input")
    input_ = "" if input_ is None else input_
    for key, value in (
        ("instruction", obj["instruction"]),
        ("input", input_),
        ("output", obj["output"]),
    ):
        if not isinstance(value, str):
            raise Reject(
                NON_STRING_FIELD, f"field {key!r} must be a string, got {type(value).__name__}"
            )
    return (*_checked(obj["instruction"].strip(), input_.strip(), obj["output"].strip()), None)


def _json_list(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # rejected below as not a list of turns


def _checked(instruction: str, input_: str, output: str) -> tuple[str, str, str]:
    if not instruction:
        raise Reject(EMPTY_INSTRUCTION, "the instruction is empty")
    if not output:
        raise Reject(EMPTY_OUTPUT, "the output is empty")
    return instruction, input_, output


def _chat_fields(
    turns: Any, top_system: Any = None
) -> tuple[str, str, str, list[dict[str, str]] | None]:
    """A ShareGPT (`from`/`value`) or `messages` (`role`/`content`) row, any number of exchanges.

    `top_system`: a row-level `system` field, used when no turn is a system turn.
    """
    if not isinstance(turns, list):
        raise Reject(
            BAD_CONVERSATION, f"conversation must be a list of turns, got {type(turns).__name__}"
        )
    parsed = [_turn(i, turn) for i, turn in enumerate(turns)]
    system = ""
    if parsed and parsed[0][0] == SYSTEM:
        system = parsed.pop(0)[1].strip()
    elif isinstance(top_system, str):
        system = top_system.strip()
    _check_order(parsed)
    messages = [{"role": SYSTEM, "content": system}] if system else []
    for role, text in parsed:
        text = text.strip()
        if not text:
            raise Reject(
                EMPTY_INSTRUCTION if role == USER else EMPTY_OUTPUT,
                f"turn {len(messages)} ({role}) is empty",
            )
        messages.append({"role": role, "content": text})
    if len(parsed) == 2 and not system:
        return messages[0]["content"], "", messages[1]["content"], None  # the papers' case
    return messages[-2]["content"], "", messages[-1]["content"], messages


def _turn(i: int, turn: Any) -> tuple[str, str]:
    """(normalized role, text) of one turn; a tool turn or an unknown role is rejected."""
    if not isinstance(turn, dict):
        raise Reject(BAD_CONVERSATION, f"turn {i} is not an object")
    role, text = turn.get("from", turn.get("role")), turn.get("value", turn.get("content"))
    if not isinstance(role, str):
        raise Reject(MISSING_FIELD, f"turn {i} has no role ('from' or 'role')")
    role = role.lower()
    if role in TOOL_ROLES or any(turn.get(k) for k in TOOL_KEYS):
        raise Reject(
            TOOL_CALL,
            f"turn {i} ({role}) is a tool call or a tool result; the student templates render "
            "text turns only",
        )
    if not isinstance(text, str):
        raise Reject(NON_STRING_FIELD, f"turn {i} text ('value' or 'content') must be a string")
    for name, roles in ((USER, USER_ROLES), (ASSISTANT, ASSISTANT_ROLES), (SYSTEM, SYSTEM_ROLES)):
        if role in roles:
            return name, text
    raise Reject(BAD_CONVERSATION, f"turn {i} has unknown role {role!r}")


def _check_order(parsed: list[tuple[str, str]]) -> None:
    """User and assistant alternate, starting with the user and ending with an answer."""
    roles = [r for r, _ in parsed]
    expected = [USER, ASSISTANT] * (len(roles) // 2 + 1)
    if len(roles) < 2 or len(roles) % 2 or roles != expected[: len(roles)]:
        raise Reject(
            BAD_CONVERSATION,
            "expected a user turn then an assistant turn, alternating and ending with an answer "
            f"(a system prompt only first), got roles {roles}",
        )
