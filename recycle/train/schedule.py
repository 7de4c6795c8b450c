"""The training schedule: which rows every worker trains on, at which step, in which micro-batch.

Computed once on the driver from the tokenized samples, so that it is deterministic (a seeded
permutation per epoch), identical for every rank, and independent of how Ray Data would split a
stream. That is what makes a resumed run take the very batches the interrupted one would have,
and a multi-worker run take the same global batches as a single-process one:

    epoch e:  permute samples (seed, e) -> rows (one sample, or several packed) -> full steps
    step s:   rows [s*G, (s+1)*G) of the epoch; worker r takes the r-th chunk of
              micro_batch_size x accumulation rows, in micro-batches of micro_batch_size

With `sort_by_length` the G rows of a step are first ordered longest first and dealt so that
micro-batch k of every worker holds the k-th group of num_workers x micro_batch_size rows:
rows of one micro-batch have similar lengths (little padding) and the workers, which meet at
every micro-batch, wait little for each other. The step holds the same rows either way, and its
loss is normalized by the step's target tokens, so the gradient is the same up to summation order.

The trailing rows of an epoch that do not fill a global batch are not trained on that epoch
(the next permutation reshuffles them in). Every rank gets the same number of micro-batches.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from recycle import columns as C


@dataclass(frozen=True)
class Layout:
    """How one optimizer step is spread over workers and micro-batches."""

    global_rows: int
    num_workers: int
    micro_batch_size: int

    @property
    def rows_per_worker(self) -> int:
        """Rows one worker trains on per step (micro_batch_size x accumulation)."""
        return self.global_rows // self.num_workers

    @property
    def accum_steps(self) -> int:
        """Micro-batches per worker per step."""
        return self.rows_per_worker // self.micro_batch_size


@dataclass
class Schedule:
    """Every worker's rows for the whole run, plus what the loop needs to know about them.

    Attributes:
        rank_tables: one table per worker, rows in training order, columns input_ids,
            position_ids, target_mask, epoch, step, micro.
        steps_per_epoch: optimizer steps of each epoch (after any max_steps cap).
        fingerprint: hash of the sample order of every step; a checkpoint is only resumed by
            a run with the same fingerprint (the worker count may change).
        stats: counts for the log and the training manifest.
    """

    rank_tables: list[pa.Table]
    steps_per_epoch: list[int]
    fingerprint: str
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run."""
        return sum(self.steps_per_epoch)

    @property
    def epoch_end_steps(self) -> list[int]:
        """The (1-based) step that ends each epoch."""
        return [int(s) for s in np.cumsum(self.steps_per_epoch)]


def pack_best_fit(order: Sequence[int], lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Pack samples into rows of at most `capacity` tokens, best fit, in the given order.

    Each sample goes into the open row whose free room fits it most tightly; rows come out in
    the order they were opened, so the epoch's randomness carries over to the rows.
    """
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (free tokens, row index), sorted
    for i in order:
        n = int(lengths[i])
        k = bisect.bisect_left(free, (n, -1))
        if k < len(free):
            room, row = free.pop(k)
        else:
            room, row = capacity, len(rows)
            rows.append([])
        rows[row].append(int(i))
        if room - n > 0:
            bisect.insort(free, (room - n, row))
    return rows


def epoch_rows(
    n_samples: int, lengths: Sequence[int], epoch: int, seed: int, packing: bool, capacity: int
) -> list[list[int]]:
    """Sample indices of each row of one epoch, in training order."""
    order = np.random.default_rng([seed, epoch]).permutation(n_samples)
    if not packing:
        return [[int(i)] for i in order]
    return pack_best_fit(order, lengths, capacity)


def _row_columns(
    ids: Sequence[np.ndarray],
    starts: Sequence[int],
    members: list[int],
    masks: Sequence[np.ndarray | None] | None = None,
) -> tuple[list[int], list[int], list[int]]:
    """input_ids, position_ids and target_mask of one row made of the samples `members`; a
    sample with a mask of its own (a conversation) uses it instead of its target start."""
    tokens: list[int] = []
    positions: list[int] = []
    target: list[int] = []
    for i in members:
        n, t0 = len(ids[i]), int(starts[i])
        tokens.extend(int(v) for v in ids[i])
        positions.extend(range(n))
        own = masks[i] if masks is not None else None
        target.extend([0] * t0 + [1] * (n - t0) if own is None else (int(v) for v in own))
    return tokens, positions, target


class _RankColumns:
    """Column lists of one worker's table, filled row by row."""

    def __init__(self) -> None:
        self.cols: dict[str, list] = {
            k: [] for k in (C.INPUT_IDS, C.POSITION_IDS, C.TARGET_MASK, C.EPOCH, C.STEP, C.MICRO)
        }

    def add(
        self, row: tuple[list[int], list[int], list[int]], epoch: int, step: int, micro: int
    ) -> None:
        for key, value in zip(
            (C.INPUT_IDS, C.POSITION_IDS, C.TARGET_MASK, C.EPOCH, C.STEP, C.MICRO),
            (*row, epoch, step, micro),
            strict=True,
        ):
            self.cols[key].append(value)

    def table(self) -> pa.Table:
        c = self.cols
        return pa.table(
            {
                C.INPUT_IDS: pa.array(c[C.INPUT_IDS], type=pa.list_(pa.int32())),
                C.POSITION_IDS: pa.array(c[C.POSITION_IDS], type=pa.list_(pa.int32())),
                C.TARGET_MASK: pa.array(c[C.TARGET_MASK], type=pa.list_(pa.int8())),
                C.EPOCH: pa.array(c[C.EPOCH], type=pa.int32()),
                C.STEP: pa.array(c[C.STEP], type=pa.int32()),
                C.MICRO: pa.array(c[C.MICRO], type=pa.int32()),
            }
        )


def place(index: int, layout: Layout) -> tuple[int, int, int]:
    """(step offset, rank, micro) of the index-th row of an epoch."""
    step, j = divmod(index, layout.global_rows)
    rank, k = divmod(j, layout.rows_per_worker)
    return step, rank, k // layout.micro_batch_size


def sort_step_rows(
    rows: list[list[int]], lengths: Sequence[int], layout: Layout
) -> list[list[int]]:
    """One step's rows reordered so that `place` gives micro-batch k of every worker the k-th
    group of num_workers x micro_batch_size rows of the length order (longest first; stable)."""
    row_len = [sum(int(lengths[i]) for i in row) for row in rows]
    ranked = sorted(range(len(rows)), key=lambda j: -row_len[j])
    group, mbs = layout.num_workers * layout.micro_batch_size, layout.micro_batch_size
    out = []
    for rank in range(layout.num_workers):
        for micro in range(layout.accum_steps):
            start = micro * group + rank * mbs
            out.extend(rows[j] for j in ranked[start : start + mbs])
    return out


def padding_tokens(rows: list[list[int]], lengths: Sequence[int], layout: Layout) -> int:
    """Padding tokens of one step's rows laid out by `place` (each micro-batch is padded to its
    longest row)."""
    per_micro: dict[tuple[int, int], list[int]] = {}
    for index, row in enumerate(rows):
        _, rank, micro = place(index, layout)
        per_micro.setdefault((rank, micro), []).append(sum(int(lengths[i]) for i in row))
    return sum(max(v) * len(v) - sum(v) for v in per_micro.values())


def build_schedule(
    sample_ids: Sequence[str],
    ids: Sequence[np.ndarray],
    starts: Sequence[int],
    layout: Layout,
    epochs: int,
    seed: int,
    packing: bool,
    capacity: int,
    max_steps: int | None = None,
    sort_by_length: bool = False,
    target_masks: Sequence[np.ndarray | None] | None = None,
) -> Schedule:
    """Lay out `epochs` passes over the samples into every worker's rows.

    Args:
        sample_ids: stable id of each sample (enters the fingerprint).
        ids: token ids of each sample, (L_i,) each.
        starts: index of the first target token of each sample.
        layout: global batch, worker count, micro-batch size.
        epochs, seed, packing, capacity: the recipe; capacity is the longest row.
        max_steps: stop the schedule after this many steps.
        sort_by_length: order each step's rows by length before cutting micro-batches (see
            `sort_step_rows`); the fingerprint is the same either way, so a run may resume
            with the other setting.
        target_masks: per sample, None (targets from its start on) or its own 0/1 mask of
            len(ids[i]) (a conversation: every assistant turn); None: no sample has one.
    """
    lengths = [len(x) for x in ids]
    ranks = [_RankColumns() for _ in range(layout.num_workers)]
    digest = hashlib.sha256(f"{layout.global_rows}|{packing}|{capacity}".encode())
    digest.update("\0".join(sample_ids).encode())
    steps_per_epoch: list[int] = []
    step0 = 0
    stats = {
        "samples": len(ids),
        "rows": 0,
        "rows_left_out": 0,
        "tokens": 0,
        "target_tokens": 0,
        "padding_tokens": 0,
    }
    for epoch in range(epochs):
        rows = epoch_rows(len(ids), lengths, epoch, seed, packing, capacity)
        n_steps = len(rows) // layout.global_rows
        if max_steps is not None:
            n_steps = min(n_steps, max_steps - step0)
        used = rows[: n_steps * layout.global_rows]
        for members in used:
            digest.update(np.asarray(members, dtype=np.int64).tobytes() + b"|")
        for offset in range(n_steps):
            step_rows = used[offset * layout.global_rows : (offset + 1) * layout.global_rows]
            if sort_by_length:
                step_rows = sort_step_rows(step_rows, lengths, layout)
            stats["padding_tokens"] += padding_tokens(step_rows, lengths, layout)
            for index, members in enumerate(step_rows):
                _, rank, micro = place(index, layout)
                columns = _row_columns(ids, starts, members, target_masks)
                ranks[rank].add(columns, epoch, step0 + offset + 1, micro)
                stats["tokens"] += len(columns[0])
                stats["target_tokens"] += sum(columns[2])
        stats["rows"] += len(used)
        stats["rows_left_out"] += len(rows) - len(used)
        steps_per_epoch.append(n_steps)
        step0 += n_steps
        if max_steps is not None and step0 >= max_steps:
            break
    return Schedule([r.table() for r in ranks], steps_per_epoch, digest.hexdigest()[:16], stats)
