"""Reflect rows with a teacher: per-row logic and batch application, independent of Ray.

Per row: render (cut to fit if needed), ask, parse; re-ask a bounded number of times when the
answer does not follow the format, then keep the original text with the reason as status. A
sample the teacher cannot handle becomes a reject (outcome columns set). Rows that are not kept on
entry pass through untouched, with the new columns empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from recycle import columns as C
from recycle.config.teacher import TeacherConfig
from recycle.teacher import errors
from recycle.teacher import parse as teacher_parse
from recycle.teacher.client import TeacherClient
from recycle.teacher.tasks import ReflectionTask

CUT_AT_MAX_TOKENS = "parse_cut_at_max_tokens"
PARSE_FAILURES = "parse_failures"

T = TypeVar("T")


class Reflector:
    """Applies one reflection task to rows through a TeacherClient."""

    def __init__(self, task: ReflectionTask, client: TeacherClient, cfg: TeacherConfig):
        self.task = task
        self.client = client
        self.cfg = cfg

    def columns(self) -> tuple[str, ...]:
        """Every column the task writes."""
        return (
            *self.task.writes(),
            self.task.status_column,
            self.task.raw_column,
            self.task.truncated_column,
        )

    async def reflect(self, row: dict[str, Any]) -> dict[str, Any]:
        """The new column values of one kept row (plus outcome columns when it is rejected)."""
        task, truncated = self.task, None
        try:
            request = task.request(row, self.cfg)
            truncated = request.truncated
            for attempt in range(self.cfg.max_parse_retries + 1):
                answer = await self.client.complete(request.prompt, request.max_tokens, attempt)
                parsed = _parse(task, answer.text, answer.finish_reason)
                if parsed.ok:
                    return self._row(
                        task.reflected(row, parsed), teacher_parse.OK, answer.text, truncated
                    )
                self.client.gate.settle({PARSE_FAILURES: 1}, 0.0, 0.0)
            return self._row(task.original(row), parsed.reason, answer.text, truncated)
        except errors.SampleRejected as rej:
            out = self._row(dict.fromkeys(task.writes()), rej.reason, None, truncated)
            out.update(
                {
                    C.OUTCOME: C.OUTCOME_REJECTED,
                    C.REASON: rej.reason,
                    C.DETAIL: rej.detail,
                    C.STAGE: task.stage,
                }
            )
            return out

    def _row(
        self, texts: dict[str, Any], status: str, raw: str | None, truncated: bool | None
    ) -> dict[str, Any]:
        task = self.task
        return {
            **texts,
            task.status_column: status,
            task.raw_column: raw,
            task.truncated_column: truncated,
        }

    async def reflect_rows(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Reflect many rows concurrently (the client bounds what is in flight), in input order."""
        return await gather_or_cancel([self.reflect(r) for r in rows])

    async def reflect_table(self, batch: pa.Table) -> pa.Table:
        """Reflect the kept rows of a batch; other rows pass through with the new columns empty."""
        C.require_columns(
            self.task.stage, batch.column_names, (*self.task.reads(), *C.OUTCOME_COLUMNS)
        )
        todo = np.flatnonzero(C.kept_mask(batch.column(C.OUTCOME).to_pylist())).tolist()
        names = [*self.task.reads()]
        names += [c for c in self.task.optional_reads() if c in batch.column_names]
        rows = batch.select(names).take(todo).to_pylist() if todo else []
        results = await self.reflect_rows(rows)
        return apply_results(
            batch, todo, results, self.columns(), bool_columns=(self.task.truncated_column,)
        )


def _parse(task: ReflectionTask, text: str, finish_reason: str | None) -> teacher_parse.Parsed:
    if finish_reason == "length":  # the answer hit max_tokens: its last section is cut short
        return teacher_parse.Parsed(CUT_AT_MAX_TOKENS)
    return task.parse(text)


async def gather_or_cancel(coros: Sequence[Awaitable[T]]) -> list[T]:
    """`asyncio.gather`, except that the first error cancels the rest before it propagates."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def apply_results(
    batch: pa.Table,
    positions: list[int],
    results: list[dict[str, Any]],
    new_columns: Sequence[str],
    bool_columns: Sequence[str] = (),
) -> pa.Table:
    """Write per-row results into a table: new columns added, outcome columns updated on rejects.

    New columns are strings (booleans for `bool_columns`), null on rows that did not enter the
    stage, so every batch has the same schema.
    """
    n = batch.num_rows
    values: dict[str, list[Any]] = {name: [None] * n for name in new_columns}
    outcome_updates = {name: batch.column(name).to_pylist() for name in C.OUTCOME_COLUMNS}
    for pos, result in zip(positions, results, strict=True):
        for name, value in result.items():
            target = values if name in values else outcome_updates
            target[name][pos] = value
    for name in new_columns:
        array = pa.array(values[name], type=pa.bool_() if name in bool_columns else pa.string())
        batch = _set(batch, name, array)
    for name, column in outcome_updates.items():
        batch = _set(batch, name, pa.array(column, type=pa.string()))
    return batch


def _set(table: pa.Table, name: str, array: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, array)
    return table.append_column(name, array)
