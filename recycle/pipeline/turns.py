"""Conversations through the reflection stream turn by turn: explode before, reassemble after.

A conversation row (`messages` set, data/normalize.py) becomes one row per reflected turn before
the reflection graph, so that each turn is a sample like any other: instruction/output = (u_t,
a_t), input "", and the columns below. Single-turn rows pass untouched (their turn columns null).

    conversation_id  the conversation's sample_id      turn_index  t (0-based)
    turn_count       its number of turns               turn_history  JSON: system + ORIGINAL
                                                                     (u_1, a_1) .. (u_{t-1}, a_{t-1})

Turns are independent given the ORIGINAL history: turn t's teacher prompt and student scores see
the earlier turns as the input had them, never their rewrites, so every turn of a conversation
goes to the teacher at once (in parallel) and a turn's cached answer stays valid whatever the
student chooses for an earlier turn. `selection.turns: last` reflects only the last exchange.

The stream writes turn rows apart (OUTPUT/turns/, same layout as the run directory); once the
stream is done, `reassemble` joins each conversation's turns into ONE row of the run directory,
so that every input row ends kept, dropped or rejected once and the manifest adds up. Its texts:
each reflected turn's final (x2, y2) (the chosen rewrite or the original), the other turns as
they were, in `final_messages`. How its outcome is decided (README, Conversations):

- a turn rejected (teacher refusal, outage, budget...) rejects the conversation with that turn's
  reason (the first such turn): the conversation cannot be completed as the rule would;
- otherwise, where the mode filters, the authors' filter (select.modes.final_filter, the same
  code as for a single sample) reads the conversation's aggregate: final IFD and r-IFD = the
  token-weighted means over its reflected turns (weights: the final answer's tokens for IFD, the
  final user message's for r-IFD; the `ifd_mean` Table 6 reads), and "response reflected" = at
  least one turn's reflected response was taken. A turn's own keep/drop is kept on the turn rows
  (OUTPUT/turns/) for inspection; it does not drop the conversation by itself.
"""

from __future__ import annotations

import posixpath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import ray

from recycle import columns as C
from recycle.data.conversation import Conversation, parse, to_json
from recycle.pipeline.resume import STREAM_PARTS, remaining
from recycle.rundir import LIGHT_CPUS, TURNS_DIR, read_outcome, write_outcome_batch

TURN_COLUMNS = (C.CONVERSATION_ID, C.TURN_INDEX, C.TURN_COUNT, C.TURN_HISTORY)
TURNS_ALL, TURNS_LAST = "all", "last"


def turns_dir(run_dir: str) -> str:
    """Where the stream's turn rows are written (a run directory of their own)."""
    return posixpath.join(run_dir.rstrip("/"), TURNS_DIR)


def turn_sample_id(conversation_id: str, t: int) -> str:
    """The sample id of turn t of a conversation: unique in the stream, and what a resumed run
    skips turn by turn."""
    return f"{conversation_id}-t{t}"


def history_messages(conv: Conversation, t: int) -> list[dict[str, str]]:
    """System prompt and the original exchanges before turn t, as chat messages."""
    return conv.messages(t)


def reflected_turns(n_turns: int, turns: str) -> range:
    """Indices of the turns reflected under `selection.turns`."""
    return range(n_turns) if turns == TURNS_ALL else range(n_turns - 1, n_turns)


def _turn_rows(row: dict[str, Any], turns: str) -> list[dict[str, Any]]:
    conv = parse(row[C.MESSAGES])
    out = []
    for t in reflected_turns(conv.n_turns, turns):
        out.append(
            row
            | {
                C.SAMPLE_ID: turn_sample_id(row[C.SAMPLE_ID], t),
                C.INSTRUCTION: conv.users[t],
                C.INPUT: "",
                C.OUTPUT: conv.answers[t],
                C.CONVERSATION_ID: row[C.SAMPLE_ID],
                C.TURN_INDEX: t,
                C.TURN_COUNT: conv.n_turns,
                C.TURN_HISTORY: to_json(history_messages(conv, t)),
            }
        )
    return out


def explode_turns(df: pd.DataFrame, turns: str = TURNS_ALL) -> pd.DataFrame:
    """One row per reflected turn of each kept conversation row; other rows unchanged, with the
    turn columns null. Row order: each input row's turns in place of it."""
    has_messages = C.MESSAGES in df.columns
    rows: list[dict[str, Any]] = []
    for row in df.to_dict("records"):
        text = row.get(C.MESSAGES) if has_messages else None
        if isinstance(text, str) and row[C.OUTCOME] == C.OUTCOME_KEPT:
            rows.extend(_turn_rows(row, turns))
        else:
            rows.append(row | dict.fromkeys(TURN_COLUMNS))
    out = pd.DataFrame(rows, columns=[*df.columns, *TURN_COLUMNS])
    for name in (C.TURN_INDEX, C.TURN_COUNT):
        out[name] = out[name].astype("Int64")
    return out


TURN_TYPES = {
    C.CONVERSATION_ID: pa.string(),
    C.TURN_INDEX: pa.int64(),
    C.TURN_COUNT: pa.int64(),
    C.TURN_HISTORY: pa.string(),
}


def explode_batch(batch: pa.Table, turns: str) -> pa.Table:
    """`explode_turns` as a Ray Data batch function (the row count changes). Every column keeps
    its type and the turn columns are typed, whatever the batch holds (no conversation, or no
    row at all), so every block of the stream has one schema; a batch without a conversation
    only gains the four null turn columns."""
    schema = pa.schema([*batch.schema, *(pa.field(n, t) for n, t in TURN_TYPES.items())])
    has_chat = C.MESSAGES in batch.column_names and pc.any(pc.is_valid(batch[C.MESSAGES])).as_py()
    if not has_chat:
        for name, kind in TURN_TYPES.items():
            batch = batch.append_column(name, pa.nulls(batch.num_rows, kind))
        return batch
    exploded = explode_turns(batch.to_pandas(), turns)
    return pa.Table.from_pandas(exploded, schema=schema, preserve_index=False)


def explode(ds: ray.data.Dataset, run_dir: str, turns: str, retry: bool) -> ray.data.Dataset:
    """The stream's rows: conversations exploded into turn rows, less the turn rows an earlier
    invocation of this run wrote (the conversations already reassembled were left out before)."""
    rows = ds.map_batches(
        explode_batch, fn_kwargs={"turns": turns}, batch_format="pyarrow", num_cpus=LIGHT_CPUS
    ).materialize()
    return remaining(rows, turns_dir(run_dir), STREAM_PARTS, retry)


def write_stream_batch(batch: pa.Table, run_dir: str, part_prefix: str) -> pa.Table:
    """Write a stream batch: single rows into the run directory as before (without the turn
    columns, so their part files are what they were), turn rows into OUTPUT/turns/."""
    if C.CONVERSATION_ID not in batch.column_names:
        return write_outcome_batch(batch, run_dir, part_prefix)
    is_turn = pc.is_valid(batch[C.CONVERSATION_ID])
    singles = batch.filter(pc.invert(is_turn)).drop_columns(list(TURN_COLUMNS))
    turn_rows = batch.filter(is_turn)
    counts = []
    if singles.num_rows:
        counts.append(write_outcome_batch(singles, run_dir, part_prefix))
    if turn_rows.num_rows:
        counts.append(write_outcome_batch(turn_rows, turns_dir(run_dir), part_prefix))
    return pa.concat_tables(counts) if counts else pa.table({"outcome": [], "reason": [], "n": []})


def read_turn_rows(run_dir: str) -> pd.DataFrame:
    """Every turn row the stream wrote, whatever its outcome (empty frame when none)."""
    tables = [read_outcome(turns_dir(run_dir), o) for o in C.OUTCOMES]
    tables = [t for t in tables if t is not None]
    if not tables:
        return pd.DataFrame(columns=[*TURN_COLUMNS, C.SAMPLE_ID, C.OUTCOME])
    return pa.concat_tables(tables, promote_options="permissive").to_pandas()
