"""Which rows repeat an earlier row's content, found over columns in one pass. Pure functions.

The rule: among the kept rows that share a `sample_id` (a hash of instruction, input and output),
the first by (source file, position in the file) stays; every other one is rejected as
`duplicate`, naming the row it repeats. Rows already rejected take no part.

It is found in two steps so that it scales: `duplicate_losers` reads only three short columns of
every row (about 60 bytes a row, against ~1 KB for a whole Alpaca row with its raw text) and
returns the rows to reject; `mark_losers` then rewrites any block of rows from that small table.
A whole input's keys fit in one task: 250,000 rows are ~15 MB.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recycle import columns as C
from recycle.data.normalize import DUPLICATE, STAGE

KEY_COLUMNS = [C.SAMPLE_ID, C.SOURCE, C.OUTCOME]
LOSER = C.SOURCE  # the losers table: the source of each row to reject...
WINNER = "first_source"  # ...and the source of the row it repeats
LOSERS_SCHEMA = pa.schema([(LOSER, pa.string()), (WINNER, pa.string())])


def source_order(sources: pd.Series) -> pd.DataFrame:
    """(path, position) of each `uri:index` source; a source without a numeric index sorts as -1."""
    parts = sources.str.rpartition(":")
    numbered = parts[2].str.fullmatch(r"[0-9]+").fillna(False).astype(bool)
    path = parts[0].where(numbered, sources)
    position = pd.to_numeric(parts[2].where(numbered, "-1"))
    return pd.DataFrame({"path": path, "position": position}, index=sources.index)


def duplicate_losers(keys: pa.Table) -> pa.Table:
    """From the key columns of every row of an input, the rows to reject as duplicates.

    Returns:
        A table of (source, first_source): one row per duplicate, with the row it repeats.
    """
    C.require_columns("validate (duplicates)", keys.column_names, KEY_COLUMNS)
    df = keys.select(KEY_COLUMNS).to_pandas()
    df = df[df[C.OUTCOME] == C.OUTCOME_KEPT]
    if df.empty:
        return LOSERS_SCHEMA.empty_table()
    df = pd.concat([df[[C.SAMPLE_ID, C.SOURCE]], source_order(df[C.SOURCE])], axis=1)
    df = df.sort_values([C.SAMPLE_ID, "path", "position"], kind="stable")
    first = df.groupby(C.SAMPLE_ID, sort=False)[C.SOURCE].transform("first")
    losers = df[df.duplicated(C.SAMPLE_ID, keep="first")]
    return pa.table(
        {LOSER: losers[C.SOURCE].to_numpy(), WINNER: first.loc[losers.index].to_numpy()},
        schema=LOSERS_SCHEMA,
    )


def mark_losers(rows: pa.Table, losers: pa.Table) -> pa.Table:
    """`rows` with every row named in `losers` rejected as a duplicate of its first copy.

    Column work only (no Python per row); a block without a duplicate comes back as it is.
    """
    at = pc.index_in(rows[C.SOURCE], value_set=losers[LOSER])  # (N,) position in losers, or null
    hit = pc.is_valid(at)
    if not pc.any(hit).as_py():
        return rows
    detail = pc.binary_join_element_wise("same content as ", pc.take(losers[WINNER], at), "")
    marked = {
        C.OUTCOME: C.OUTCOME_REJECTED,
        C.REASON: DUPLICATE,
        C.DETAIL: detail,
        C.STAGE: STAGE,
    }
    for name, value in marked.items():
        i = rows.schema.get_field_index(name)
        column = rows.column(i).cast(pa.string())
        rows = rows.set_column(i, name, pc.if_else(hit, value, column))
    return rows


def mark_duplicates(rows: pa.Table) -> pa.Table:
    """Every duplicate among `rows` (all the rows of an input) rejected: both steps at once."""
    return mark_losers(rows, duplicate_losers(rows)) if rows.num_rows else rows
