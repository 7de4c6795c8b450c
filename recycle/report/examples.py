"""Examples of every outcome for the report: kept, and each drop and reject reason, with the
original and final texts and the scores that decided."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recycle import columns as C
from recycle.data.conversation import parse

PER_GROUP = 2
FIELDS = (
    ("instruction", C.INSTRUCTION, C.FINAL_INSTRUCTION),
    ("input", C.INPUT, C.FINAL_INPUT),
    ("response", C.OUTPUT, C.FINAL_OUTPUT),
)
SCORES = {
    C.scored(C.ORIG, C.IFD): "IFD original",
    C.FINAL_IFD: "IFD final",
    C.scored(C.ORIG, C.RIFD): "r-IFD original",
    C.FINAL_RIFD: "r-IFD final",
    C.INSTRUCTION_REFLECTED: "rewritten instruction taken",
    C.RESPONSE_REFLECTED: "rewritten response taken",
}
OUTCOME_ORDER = {C.OUTCOME_KEPT: 0, C.OUTCOME_DROPPED: 1, C.OUTCOME_REJECTED: 2}
CHANGED = "_changed"  # whether the final instruction or response differs from the original
CHANGE_COLUMNS = (
    C.FINAL_OUTPUT,
    C.OUTPUT,
    C.FINAL_INSTRUCTION,
    C.INSTRUCTION,
)  # what `changed` reads


def text(value: Any) -> str:
    """A cell as text; missing values are empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def changed(table: pa.Table) -> pa.Array:
    """True where the final instruction or response differs from the original (column work: a
    run's texts never become Python strings to find out)."""
    if not set(CHANGE_COLUMNS) <= set(table.column_names):
        return pa.array([False] * table.num_rows)

    def differs(a: str, b: str) -> pa.Array:
        return pc.not_equal(pc.fill_null(table[a], ""), pc.fill_null(table[b], ""))

    return pc.or_(differs(C.FINAL_OUTPUT, C.OUTPUT), differs(C.FINAL_INSTRUCTION, C.INSTRUCTION))


def _fields(row: dict[str, Any], has_final: bool) -> list[tuple[str, str, str | None]]:
    """(field, original, final or None) per text field; a validation reject shows its raw row."""
    out = [
        (label, text(row.get(a)), text(row.get(b)) if has_final else None) for label, a, b in FIELDS
    ]
    if not any(before for _, before, _ in out) and text(row.get(C.RAW)):
        return [("raw row", text(row.get(C.RAW)), None)]
    return out


def _scores(row: dict[str, Any]) -> dict[str, Any]:
    return {label: row[col] for col, label in SCORES.items() if text(row.get(col)) != ""}


def _best(rows: pd.DataFrame, per_group: int) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """The first `per_group` rows of each (outcome, reason), changed texts first (CHANGED)."""
    rows = rows.assign(**{C.REASON: rows[C.REASON].fillna("") if C.REASON in rows else ""})
    return [
        (key, group.sort_values(CHANGED, ascending=False, kind="stable").head(per_group))
        for key, group in rows.groupby([C.OUTCOME, C.REASON], sort=True)
    ]


class ExampleChooser:
    """The rows `pick_examples` will show, chosen as a run's part files go by (kept, dropped, then
    rejected ones, each in file order): per (outcome, reason), the first `per_group` rows whose
    texts changed, then the first unchanged ones, the rule `pick_examples` applies to whole rows.
    It holds at most 2 * `per_group` rows of each (outcome, reason), as (sample id, part file),
    never the run's rows.
    """

    def __init__(self, per_group: int = PER_GROUP):
        self.per_group = per_group
        # (outcome, reason) -> changed? -> [(sample id, part file, its place in the offers)]
        self._rows: dict[tuple[str, str], dict[bool, list[tuple[str, str, int]]]] = {}
        self._offers = 0

    def needs_texts(self, table: pa.Table) -> bool:
        """Whether a part file (its outcome and reason columns) can change the choice: one of its
        (outcome, reason) has fewer than `per_group` changed rows so far. If not, its texts need
        not be read to tell which rows changed."""
        return any(
            len(self._rows.get(key, {True: []})[True]) < self.per_group for key in _keys(table)[0]
        )

    def add(self, path: str, table: pa.Table, changed_rows: pa.Array) -> None:
        """Offer the rows of one part file (sample id, outcome, reason) and whether each changed."""
        keys, outcomes, reasons = _keys(table)
        changed_rows = np.asarray(pc.fill_null(changed_rows, False), dtype=bool)
        ids = table[C.SAMPLE_ID]
        for key in sorted(keys):
            rows = self._rows.setdefault(key, {True: [], False: []})
            in_group = (outcomes == key[0]) & (reasons == key[1])
            for flag in (True, False):
                need = max(self.per_group - len(rows[flag]), 0)
                for i in np.flatnonzero(in_group & (changed_rows == flag))[:need]:
                    rows[flag].append((ids[int(i)].as_py(), path, self._offers))
        self._offers += 1

    def chosen(self) -> dict[str, list[str]]:
        """{part file: the sample ids shown from it}, the files in the order they were offered."""
        picked = [
            row
            for rows in self._rows.values()
            for row in (rows[True] + rows[False])[: self.per_group]
        ]
        out: dict[str, list[str]] = {}
        for sample_id, path, _ in sorted(picked, key=lambda row: row[2]):
            out.setdefault(path, []).append(sample_id)
        return out


def _keys(table: pa.Table) -> tuple[set[tuple[str, str]], np.ndarray, np.ndarray]:
    """A part file's (outcome, reason) pairs (a row without an outcome is in none), and its
    outcomes and reasons as (N,) object arrays."""
    outcomes, reasons = np.asarray(table[C.OUTCOME].to_pylist(), dtype=object), row_reasons(table)
    keys = {k for k in zip(outcomes, reasons, strict=True) if k[0] is not None}
    return keys, outcomes, reasons


def row_reasons(table: pa.Table) -> np.ndarray:
    """(N,) object: a part file's reasons, "" where a row (or the file) has none."""
    if C.REASON not in table.column_names:
        return np.full(table.num_rows, "", dtype=object)
    return np.asarray(pc.fill_null(table[C.REASON], "").to_pylist(), dtype=object)


def pick_examples(frames: list[pd.DataFrame], per_group: int = PER_GROUP) -> list[dict[str, Any]]:
    """Up to `per_group` samples of each (outcome, reason), changed texts first, kept first.

    The frames hold whole rows and their CHANGED column (`changed` of their table)."""
    frames = [f for f in frames if f is not None and len(f) and C.OUTCOME in f]
    if not frames:
        return []
    rows = pd.concat(frames, ignore_index=True)
    out = []
    for (outcome, reason), best in _best(rows, per_group):
        for row in best.to_dict("records"):
            has_final = outcome != C.OUTCOME_REJECTED and text(row.get(C.FINAL_OUTPUT)) != ""
            out.append(
                {
                    "sample_id": text(row.get(C.SAMPLE_ID)),
                    "outcome": outcome,
                    "reason": reason,
                    "detail": text(row.get(C.DETAIL)),
                    "fields": _fields(row, has_final),
                    "scores": _scores(row),
                }
            )
    return sorted(out, key=lambda e: OUTCOME_ORDER.get(e["outcome"], 3))


def conversation_example(row: dict[str, Any]) -> dict[str, Any]:
    """A reflected conversation as an example, turn by turn: each turn's user message and answer,
    original (`messages`) against final (`final_messages`), in the shape `pick_examples` gives."""
    before, after = parse(row[C.MESSAGES]), parse(row[C.FINAL_MESSAGES])
    fields = [("system", before.system, after.system)] if before.system else []
    for t in range(before.n_turns):
        fields.append((f"turn {t + 1} user", before.users[t], after.users[t]))
        fields.append((f"turn {t + 1} answer", before.answers[t], after.answers[t]))
    scores = {
        "turns": row.get(C.TURN_COUNT),
        "turns reflected": row.get(C.TURNS_REFLECTED),
        "turns rewritten": row.get(C.TURNS_REWRITTEN),
        "IFD final (token-weighted mean over turns)": row.get(C.FINAL_IFD),
        "r-IFD final (token-weighted mean over turns)": row.get(C.FINAL_RIFD),
    }
    return {
        "sample_id": text(row.get(C.SAMPLE_ID)),
        "outcome": text(row.get(C.OUTCOME)),
        "reason": text(row.get(C.REASON)),
        "detail": text(row.get(C.DETAIL)),
        "fields": fields,
        "scores": {k: v for k, v in scores.items() if text(v) != ""},
    }
