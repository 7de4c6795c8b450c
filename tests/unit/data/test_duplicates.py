"""Duplicates found over columns (recycle.data.duplicates) against the rule written row by row.

The oracle below is the rule as the row-by-row code of 0.1 applied it (one Python call per
sample_id group): among kept rows sharing a sample_id, the first by (file, position) stays.
"""

import random

import pyarrow as pa
import pytest

from recycle import columns as C
from recycle.data import duplicates, normalize


def oracle(rows: list[dict]) -> list[dict]:
    """Row-by-row: group kept rows by sample_id, sort each group by (file, position), reject the rest."""

    def key(source: str) -> tuple[str, int]:
        path, _, index = source.rpartition(":")
        return (path, int(index)) if index.isdigit() else (source, -1)

    rows = [dict(r) for r in rows]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row[C.OUTCOME] == C.OUTCOME_KEPT:
            groups.setdefault(row[C.SAMPLE_ID], []).append(row)
    for group in groups.values():
        group.sort(key=lambda r: key(r[C.SOURCE]))
        for dup in group[1:]:
            dup.update({C.OUTCOME: C.OUTCOME_REJECTED, C.REASON: normalize.DUPLICATE,
                        C.DETAIL: f"same content as {group[0][C.SOURCE]}", C.STAGE: normalize.STAGE})  # fmt: skip
    return rows


def random_rows(n: int, seed: int) -> list[dict]:
    """Rows from 4 files with many repeated contents, some rejects, and a source with no position."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        content = rng.randrange(n // 3 + 1)
        source = f"s3://b/f{rng.randrange(4)}.jsonl:{rng.randrange(1, 40)}{i:03d}"
        if rng.random() < 0.02:
            source = f"s3://b/whole-{i}.json"  # no numeric position: sorts as -1 in its file
        row = normalize.normalize_record(
            f'{{"instruction": "q{content}", "output": "a{content}"}}', source
        )
        if rng.random() < 0.1:
            row = normalize.normalize_record("{broken", source)
        rows.append(row)
    rng.shuffle(rows)
    return rows


def as_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: r[C.SOURCE])


@pytest.mark.parametrize("seed", range(5))
def test_whole_input_at_once_equals_the_row_by_row_rule(seed):
    rows = random_rows(600, seed)
    marked = duplicates.mark_duplicates(pa.Table.from_pylist(rows, schema=normalize.SAMPLE_SCHEMA))
    expected = oracle(rows)
    assert as_rows(marked) == sorted(expected, key=lambda r: r[C.SOURCE])
    assert sum(r[C.REASON] == normalize.DUPLICATE for r in expected) > 50  # the inputs do repeat


@pytest.mark.parametrize("blocks", [1, 3, 17])
def test_blocks_marked_apart_equal_the_whole_input_at_once(blocks):
    rows = random_rows(500, seed=blocks)
    table = pa.Table.from_pylist(rows, schema=normalize.SAMPLE_SCHEMA)
    cuts = sorted(random.Random(blocks).sample(range(1, len(rows)), blocks - 1))
    parts = [table.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)]
    losers = duplicates.duplicate_losers(
        pa.concat_tables([p.select(duplicates.KEY_COLUMNS) for p in parts])
    )
    apart = pa.concat_tables([duplicates.mark_losers(p, losers) for p in parts])
    assert as_rows(apart) == as_rows(duplicates.mark_duplicates(table))


def test_first_by_position_not_by_text_order():
    rows = [
        normalize.normalize_record('{"instruction": "a", "output": "b"}', s)
        for s in ("f.json:10", "f.json:2", "g.json:0")
    ]
    out = duplicates.mark_duplicates(
        pa.Table.from_pylist(rows, schema=normalize.SAMPLE_SCHEMA)
    ).to_pylist()
    assert [r[C.SOURCE] for r in out if r[C.OUTCOME] == C.OUTCOME_KEPT] == ["f.json:2"]
    dups = [r for r in out if r[C.REASON] == normalize.DUPLICATE]
    assert [r[C.DETAIL] for r in dups] == ["same content as f.json:2"] * 2


def test_a_block_without_duplicates_comes_back_unchanged():
    rows = random_rows(50, seed=9)
    table = pa.Table.from_pylist(rows, schema=normalize.SAMPLE_SCHEMA)
    none = duplicates.duplicate_losers(table.slice(0, 0))
    assert none.num_rows == 0 and duplicates.mark_losers(table, none) is table
