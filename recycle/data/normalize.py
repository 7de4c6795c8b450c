"""Turn one raw record into a normalized sample, or into a reject with a reason. Pure functions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow as pa

from recycle import columns as C

# Reject reasons of the validate stage.
UNPARSEABLE = "unparseable_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
NON_STRING_FIELD = "non_string_field"
EMPTY_INSTRUCTION = "empty_instruction"
EMPTY_OUTPUT = "empty_output"
MULTI_TURN = "multi_turn"
BAD_CONVERSATION = "bad_conversation"
DUPLICATE = "duplicate"
STAGE = "validate"

# Every normalized row, kept or rejected: these columns, all strings (null where a reject has none).
SAMPLE_SCHEMA = pa.schema(
    [
        (name, pa.string())
        for name in (
            C.SAMPLE_ID, C.INSTRUCTION, C.INPUT, C.OUTPUT, C.SOURCE, C.RAW,
            C.OUTCOME, C.REASON, C.DETAIL, C.STAGE,
        )
    ]
)  # fmt: skip

USER_ROLES = {"user", "human"}
ASSISTANT_ROLES = {"assistant", "gpt", "chatgpt", "bard", "bing", "model"}
SYSTEM_ROLES = {"system"}


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
        instruction, input_, output = _fields(obj)
    except Reject as rej:
        return _rejected(raw, source, rej.reason, rej.detail)
    return {
        C.SAMPLE_ID: sample_id(instruction, input_, output),
        C.INSTRUCTION: instruction,
        C.INPUT: input_,
        C.OUTPUT: output,
        C.SOURCE: source,
        C.RAW: raw,
        C.OUTCOME: C.OUTCOME_KEPT,
        C.REASON: "",
        C.DETAIL: "",
        C.STAGE: "",
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
    }


def _fields(obj: dict[str, Any]) -> tuple[str, str, str]:
    if "conversations" in obj or "messages" in obj:
        return _chat_fields(obj.get("conversations", obj.get("messages")))
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
    return _checked(obj["instruction"].strip(), input_.strip(), obj["output"].strip())


def _checked(instruction: str, input_: str, output: str) -> tuple[str, str, str]:
    if not instruction:
        raise Reject(EMPTY_INSTRUCTION, "the instruction is empty")
    if not output:
        raise Reject(EMPTY_OUTPUT, "the output is empty")
    return instruction, input_, output


def _chat_fields(turns: Any) -> tuple[str, str, str]:
    """First user -> assistant exchange of a ShareGPT (`from`/`value`) or `messages` (`role`/`content`) row."""
    if not isinstance(turns, list):
        raise Reject(
            BAD_CONVERSATION, f"conversation must be a list of turns, got {type(turns).__name__}"
        )
    parsed = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise Reject(BAD_CONVERSATION, f"turn {i} is not an object")
        role, text = turn.get("from", turn.get("role")), turn.get("value", turn.get("content"))
        if not isinstance(role, str):
            raise Reject(MISSING_FIELD, f"turn {i} has no role ('from' or 'role')")
        if not isinstance(text, str):
            raise Reject(NON_STRING_FIELD, f"turn {i} text ('value' or 'content') must be a string")
        if role.lower() not in SYSTEM_ROLES:
            parsed.append((role.lower(), text))
    if len(parsed) > 2:
        raise Reject(
            MULTI_TURN, f"{len(parsed)} turns; only single-turn conversations are supported for now"
        )
    if len(parsed) < 2 or parsed[0][0] not in USER_ROLES or parsed[1][0] not in ASSISTANT_ROLES:
        raise Reject(
            BAD_CONVERSATION,
            f"expected a user turn then an assistant turn, got roles {[r for r, _ in parsed]}",
        )
    return _checked(parsed[0][1].strip(), "", parsed[1][1].strip())
