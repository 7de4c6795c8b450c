"""Test questions and model answers: the five shipped sets, a user's own set, AlpacaEval files.

Every question becomes `{question_id, dataset, instruction, input}`. The shipped sets spell the
question differently (`text`, `prompt`, `Instruction`, `instruction` + `instances[0].input`,
`conversations`); `question_fields` reads each layout. A user's set goes through the project's
readers (JSON, JSONL, Parquet, folders, globs, s3://), so any file they take works, AlpacaEval's
`model_outputs.json` included. A question that cannot be read stops the run with the file and row:
a set silently missing rows would change the win rate.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from recycle.data.records import RAW_SOURCE, RAW_TEXT, iter_records
from recycle.data.sources import resolve_inputs
from recycle.errors import InputError
from recycle.eval import columns as E
from recycle.storage import filesystem

BUILTIN_SETS = ("vicuna", "koala", "wizardlm", "sinstruct", "lima")
SETS_DIR = Path(__file__).resolve().parent / "sets"
DEFAULT_DATASET = "custom"
# Question fields tried in this order; the first present wins (the shipped sets use one each).
TEXT_FIELDS = ("instruction", "Instruction", "text", "prompt", "question")
CHAT_FIELDS = ("conversations", "messages", "turns")
USER_ROLES = {"user", "human"}
MAX_ERRORS_SHOWN = 3


def builtin_path(name: str) -> Path:
    """The shipped file of a built-in set (vicuna, koala, wizardlm, sinstruct, lima)."""
    return SETS_DIR / f"{name}_test_set.jsonl"


def question_fields(obj: Any) -> tuple[str, str]:
    """(instruction, input) of one test record, whatever the layout of its set.

    Raises:
        ValueError: the record has no question field, or an empty or non-text one.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"a question must be a JSON object, got {type(obj).__name__}")
    for key in TEXT_FIELDS:
        if key in obj:
            return _checked(key, obj[key]), _input_of(obj)
    for key in CHAT_FIELDS:
        if key in obj:
            return _checked(key, _first_user_turn(obj[key])), ""
    raise ValueError(
        f"no question field: expected one of {', '.join(TEXT_FIELDS + CHAT_FIELDS)}, have {sorted(obj)}"
    )


def _checked(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"field {key!r} is empty")
    return value


def _input_of(obj: dict[str, Any]) -> str:
    """`input`, or the Self-Instruct layout's `instances[0].input`; "" when there is none."""
    value = obj.get("input")
    if value is None and isinstance(obj.get("instances"), list) and obj["instances"]:
        first = obj["instances"][0]
        value = first.get("input") if isinstance(first, dict) else None
    if value is not None and not isinstance(value, str):
        raise ValueError(f"field 'input' must be a string, got {type(value).__name__}")
    return value or ""


def _first_user_turn(turns: Any) -> Any:
    """LIMA stores the question as a string; chat layouts as turns: take the first user turn."""
    if isinstance(turns, str):
        return turns
    if not isinstance(turns, list) or not turns:
        raise ValueError("conversation must be a string or a non-empty list of turns")
    for turn in turns:
        if isinstance(turn, str):  # MT-bench style: a list of user messages
            return turn
        if isinstance(turn, dict):
            role = str(turn.get("from", turn.get("role", ""))).lower()
            if role in USER_ROLES:
                return turn.get("value", turn.get("content"))
    raise ValueError("conversation has no user turn")


def dataset_name(uri: str) -> str:
    """The set a file holds when its rows do not say: its name without `_test_set` and extension."""
    stem = posixpath.basename(uri.rstrip("/")).split(".")[0]
    return stem.removesuffix("_test_set") or DEFAULT_DATASET


def read_records(spec: str) -> list[tuple[str, dict[str, Any]]]:
    """(source, record) of every row of a built-in set name or of a path the readers take.

    Raises:
        InputError: a path that does not exist, holds no rows, or a row that is not JSON.
    """
    uri = str(builtin_path(spec)) if spec in BUILTIN_SETS else spec
    out = []
    for file in resolve_inputs(uri):
        for record in iter_records(file):
            try:
                out.append((record[RAW_SOURCE], json.loads(record[RAW_TEXT])))
            except json.JSONDecodeError as err:
                raise InputError(f"{record[RAW_SOURCE]}: not JSON ({err.msg})") from None
    if not out:
        raise InputError(f"{spec!r} holds no rows; check the path")
    return out


def load_questions(specs: Sequence[str], limit_per_set: int | None = None) -> list[dict[str, Any]]:
    """The questions of every set named in `specs` (built-in names or paths), in file order.

    Args:
        specs: built-in set names and/or paths (file, folder, glob; local, s3://, gs://).
        limit_per_set: keep only the first N questions of each set (quick checks).

    Raises:
        InputError: a row that holds no usable question (its source and why), or no rows.
    """
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for spec in specs:
        per_set: dict[str, int] = {}
        for source, obj in read_records(spec):
            name = _record_dataset(obj, source)
            n = per_set.get(name, 0)
            if limit_per_set is not None and n >= limit_per_set:
                continue
            try:
                instruction, input_ = question_fields(obj)
            except ValueError as err:
                errors.append(f"{source}: {err}")
                continue
            per_set[name] = n + 1
            rows.append(_question(name, n, instruction, input_))
    if errors:
        shown = "; ".join(errors[:MAX_ERRORS_SHOWN])
        raise InputError(f"{len(errors)} test question(s) cannot be read: {shown}")
    return rows


def _record_dataset(obj: Any, source: str) -> str:
    if isinstance(obj, dict) and isinstance(obj.get(E.DATASET), str) and obj[E.DATASET]:
        return obj[E.DATASET]
    return dataset_name(source.rpartition(":")[0] or source)


def _question(dataset: str, n: int, instruction: str, input_: str) -> dict[str, Any]:
    return {
        E.QUESTION_ID: f"{dataset}/{n}",
        E.DATASET: dataset,
        E.INSTRUCTION: instruction,
        E.INPUT: input_,
    }


def read_answers(spec: str) -> list[dict[str, Any]]:
    """A model's answers: AlpacaEval `model_outputs.json` rows (`input` optional), in file order.

    Raises:
        InputError: a row without a question or without a text `output`.
    """
    rows, errors = [], []
    for source, obj in read_records(spec):
        try:
            instruction, input_ = question_fields(obj)
            output = obj.get(E.OUTPUT)
            if not isinstance(output, str):
                raise ValueError(f"field 'output' must be a string, got {type(output).__name__}")
        except ValueError as err:
            errors.append(f"{source}: {err}")
            continue
        rows.append(
            {
                E.DATASET: _record_dataset(obj, source),
                E.INSTRUCTION: instruction,
                E.INPUT: input_,
                E.OUTPUT: output,
                E.GENERATOR: str(obj.get(E.GENERATOR) or ""),
            }
        )
    if errors:
        shown = "; ".join(errors[:MAX_ERRORS_SHOWN])
        raise InputError(f"{len(errors)} answer(s) in {spec} cannot be read: {shown}")
    return rows


def write_model_outputs(uri: str, rows: Iterable[dict[str, Any]]) -> str:
    """Write answers as one AlpacaEval JSON list (instruction, input, output, generator, dataset)."""
    keys = (E.INSTRUCTION, E.INPUT, E.OUTPUT, E.GENERATOR, E.DATASET)
    payload = [{k: row[k] for k in keys} for row in rows]
    fs, path = filesystem(uri)
    fs.create_dir(posixpath.dirname(path), recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8"))
    return uri
