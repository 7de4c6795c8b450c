"""Turn rows back into one row per conversation, with its outcome (pipeline/turns.py says how).

Runs on the driver once the stream is done (and on a rerun that had nothing left to stream), over
OUTPUT/turns/; a conversation already in the run directory is not written again, so it can run
any number of times. What it holds at once is every turn row of the run: fine for the sizes this
project runs; a 10M-turn run would want it per group of part files (not done).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from recycle import columns as C
from recycle.config.selection import SelectionConfig
from recycle.data.conversation import Conversation, parse, to_json
from recycle.data.normalize import query_text
from recycle.pipeline.resume import STREAM_PARTS
from recycle.pipeline.turns import read_turn_rows, reflected_turns
from recycle.rundir import (
    CONVERSATION_PARTS,
    outcome_files,
    read_part,
    write_outcome_batch,
    written_ids,
)
from recycle.select.modes import FINAL, final_filter
from recycle.storage import filesystem
from recycle.student.turns import weighted_mean_and_max

PARTS = CONVERSATION_PARTS  # a stream part to resume (STREAM_PARTS-...), told apart by name
ROWS_PER_PART = 1024
DROPPED_TURN_COLUMNS = (C.TURN_INDEX, C.TURN_HISTORY)


def _truthy(value: Any) -> bool:
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def _number(row: dict[str, Any], name: str, default: float = math.nan) -> float:
    """The row's number, `default` where it has none (missing, None, or NaN: pandas' null of a
    numeric column, e.g. the token count of a turn whose final pair was not scored)."""
    value = row.get(name)
    return default if pd.isna(value) else float(value)


def final_turn_texts(turn: dict[str, Any]) -> tuple[str, str]:
    """(user, answer) a reflected turn ends with: its final pair (x2, y2)."""
    return query_text(turn[C.FINAL_INSTRUCTION], turn.get(C.FINAL_INPUT) or ""), turn[
        C.FINAL_OUTPUT
    ]


def rewritten(turn: dict[str, Any]) -> bool:
    """The turn's final text is a teacher rewrite (either reflection taken)."""
    return _truthy(turn.get(C.INSTRUCTION_REFLECTED)) or _truthy(turn.get(C.RESPONSE_REFLECTED))


def aggregates(turns: list[dict[str, Any]]) -> tuple[float, float]:
    """Token-weighted mean final IFD and r-IFD over the scored turns (NaN when none is)."""
    ifd = [_number(t, C.FINAL_IFD) for t in turns]
    rifd = [_number(t, C.FINAL_RIFD) for t in turns]
    y_w = [int(_number(t, C.scored(FINAL, C.Y_TOKENS), 1.0) or 0) for t in turns]
    x_w = [int(_number(t, C.scored(FINAL, C.X_TOKENS), 1.0) or 0) for t in turns]
    return weighted_mean_and_max(ifd, y_w)[0], weighted_mean_and_max(rifd, x_w)[0]


def conversation_row(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """One conversation's row from its reflected turn rows (any order), before the filter."""
    turns = sorted(turns, key=lambda r: int(r[C.TURN_INDEX]))
    last = turns[-1]
    conv = parse(last[C.MESSAGES])
    users, answers = list(conv.users), list(conv.answers)
    rejected = [t for t in turns if t[C.OUTCOME] == C.OUTCOME_REJECTED]
    for t in turns:
        if t[C.OUTCOME] != C.OUTCOME_REJECTED:
            i = int(t[C.TURN_INDEX])
            users[i], answers[i] = final_turn_texts(t)
    final = Conversation(conv.system, tuple(users), tuple(answers))
    ifd_mean, rifd_mean = aggregates([t for t in turns if t[C.OUTCOME] != C.OUTCOME_REJECTED])
    row = {k: v for k, v in last.items() if k not in DROPPED_TURN_COLUMNS}
    row |= {
        C.SAMPLE_ID: last[C.CONVERSATION_ID],
        C.FINAL_MESSAGES: to_json(final.messages()),
        C.TURN_COUNT: conv.n_turns,
        C.TURNS_REFLECTED: len(turns),
        C.TURNS_REWRITTEN: sum(rewritten(t) for t in turns if t[C.OUTCOME] != C.OUTCOME_REJECTED),
        C.FINAL_IFD: ifd_mean,
        C.FINAL_RIFD: rifd_mean,
        C.IFD_MEAN: ifd_mean,
        C.RIFD_MEAN: rifd_mean,
        C.RESPONSE_REFLECTED: any(_truthy(t.get(C.RESPONSE_REFLECTED)) for t in turns),
        C.OUTCOME: C.OUTCOME_KEPT,
        C.REASON: "",
        C.DETAIL: "",
    }
    if rejected:
        first = rejected[0]
        row |= {
            C.OUTCOME: C.OUTCOME_REJECTED,
            C.REASON: first[C.REASON],
            C.DETAIL: f"turn {int(first[C.TURN_INDEX]) + 1}: {first[C.DETAIL]}",
            C.STAGE: first[C.STAGE],
        }
    return row


def conversation_rows(
    turn_rows: pd.DataFrame, selection: SelectionConfig, filtered: bool, skip: set[str]
) -> pd.DataFrame:
    """The rows of every complete conversation in `turn_rows` not in `skip`, with their outcome:
    a rejected turn rejects it, else the mode's filter (when `filtered`) reads its aggregates."""
    rows = []
    for conv_id, group in turn_rows.groupby(C.CONVERSATION_ID, sort=True):
        if conv_id in skip:
            continue
        turns = group.to_dict("records")
        expected = len(reflected_turns(int(turns[0][C.TURN_COUNT]), selection.turns))
        if len({int(t[C.TURN_INDEX]) for t in turns}) < expected:
            continue  # a turn is not done yet (a stopped run): the conversation stays pending
        rows.append(conversation_row(turns))
    df = pd.DataFrame(rows)
    if df.empty or not filtered:
        return df
    return final_filter(df, selection)


def reassemble(run_dir: str, selection: SelectionConfig, filtered: bool) -> int:
    """Write the conversations whose turns are all done into the run directory; returns how many
    were written now (those written before are left as they are)."""
    turn_rows = read_turn_rows(run_dir)
    if turn_rows.empty:
        return 0
    df = conversation_rows(turn_rows, selection, filtered, written_ids(run_dir, STREAM_PARTS))
    for start in range(0, len(df), ROWS_PER_PART):
        part = pa.Table.from_pandas(df.iloc[start : start + ROWS_PER_PART], preserve_index=False)
        write_outcome_batch(plain_strings(part), run_dir, PARTS)
    return len(df)


def plain_strings(table: pa.Table) -> pa.Table:
    """Large strings (what pandas' string columns become) as the stream's plain strings, so that
    the run directory's part files agree on their types."""
    schema = pa.schema(
        pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f
        for f in table.schema
    )
    return table.cast(schema)


COUNT_COLUMNS = [C.OUTCOME, C.TURN_COUNT, C.TURNS_REFLECTED, C.TURNS_REWRITTEN]


def conversation_counts(run_dir: str) -> dict[str, int]:
    """The manifest's conversation counts: conversations and their turns, by outcome; turns
    reflected; turn rewrites (final text from the teacher) kept. {} when the run has none."""
    fs, _ = filesystem(run_dir)
    tables = [
        read_part(fs, path, COUNT_COLUMNS)
        for outcome in C.OUTCOMES
        for path in outcome_files(run_dir, outcome, PARTS)
    ]
    if not tables:
        return {}
    t = pa.concat_tables(tables).to_pandas()
    kept = (t[C.OUTCOME] == C.OUTCOME_KEPT).to_numpy()
    total = np.asarray(t[C.TURN_COUNT], dtype=int)
    counts = {
        "conversations": len(t),
        "kept": int(kept.sum()),
        "dropped": int((t[C.OUTCOME] == C.OUTCOME_DROPPED).sum()),
        "rejected": int((t[C.OUTCOME] == C.OUTCOME_REJECTED).sum()),
        "turns": int(total.sum()),
        "turns_kept": int(total[kept].sum()),
        "turns_reflected": int(t[C.TURNS_REFLECTED].sum()),
        "turn_rewrites": int(t[C.TURNS_REWRITTEN].sum()),
        "turn_rewrites_kept": int(t[C.TURNS_REWRITTEN][kept].sum()),
    }
    return counts
