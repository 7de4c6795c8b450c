"""What the report shows of a run's rows, gathered one part file at a time.

A run's rows never sit on the driver together (a 10M-row run's light columns alone would be
~1 GB): the counts are summed over part files; the histograms count each file's scores over
bins fixed by a first pass (the scores' range: the bins a histogram of all values would get);
the scatter keeps the points a seeded draw picks by their place among the finite points, known
from the first pass's count; the examples keep, per (outcome, reason), the first rows in file
order, changed texts first (`ExampleChooser`). What it holds: one part file's light columns,
the bins, `figures.MAX_POINTS` points, a few sample ids per (outcome, reason).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from recycle import columns as C
from recycle.report import figures
from recycle.report.examples import CHANGE_COLUMNS, ExampleChooser, changed, row_reasons
from recycle.rundir import outcome_files, read_part
from recycle.storage import filesystem

SCORED = (C.OUTCOME_KEPT, C.OUTCOME_DROPPED)
ORIG_IFD, ORIG_RIFD = C.scored(C.ORIG, C.IFD), C.scored(C.ORIG, C.RIFD)
PAIR1_RIFD = C.scored(C.PAIR1, C.RIFD)
STEPS = (
    ("instruction (step 2)", C.REFLECT_INSTRUCTION_STATUS, C.INSTRUCTION_REFLECTED),
    ("response (step 4)", C.REFLECT_RESPONSE_STATUS, C.RESPONSE_REFLECTED),
)
# the columns the report reads of every scored row (of a rejected row: sample id, outcome, reason)
LIGHT_COLUMNS = (
    C.SAMPLE_ID, C.OUTCOME, C.REASON, C.INSTRUCTION_REFLECTED, C.RESPONSE_REFLECTED,
    C.REFLECT_INSTRUCTION_STATUS, C.REFLECT_RESPONSE_STATUS, C.FINAL_IFD, C.FINAL_RIFD,
    ORIG_IFD, ORIG_RIFD, PAIR1_RIFD,
)  # fmt: skip
# (histogram, its "before" columns (the first the run has is drawn), its "after" column,
# of the kept rows)
HISTOGRAMS = (("ifd", (ORIG_IFD,), C.FINAL_IFD), ("rifd", (ORIG_RIFD, PAIR1_RIFD), C.FINAL_RIFD))


def scores(table: pa.Table, name: str) -> np.ndarray:
    """(N,) float: a part file's score column, NaN where missing (or the file has no such column)."""
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return np.asarray(table[name].cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def flags(table: pa.Table, name: str) -> np.ndarray:
    """(N,) bool: a part file's flag column, False where missing (or the file has no such column)."""
    if name not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    return np.asarray(pc.fill_null(table[name].cast(pa.bool_()), False), dtype=bool)


@dataclass
class RowCounts:
    """The first pass over the scored rows: counts, the scores' ranges, the finite scatter points."""

    rows: int = 0
    present: set[str] = field(default_factory=set)  # columns of some non-empty part file
    pie: dict[str, int] = field(default_factory=lambda: dict.fromkeys(figures.OUTCOME_LABELS, 0))
    reflected: dict[str, int] = field(default_factory=dict)  # status column -> rows "ok"
    status_seen: set[str] = field(default_factory=set)  # status columns with a value somewhere
    taken: dict[str, int] = field(default_factory=dict)  # taken column -> rows True
    above_one: dict[str, list[int]] = field(default_factory=dict)  # column -> [above 1, finite]
    ranges: dict[str, list[float]] = field(default_factory=dict)  # column -> [min, max] finite
    points: int = 0  # rows whose final IFD and r-IFD are both finite

    def add(self, table: pa.Table) -> None:
        """Count one part file's rows."""
        if not table.num_rows:
            return  # an empty file adds no column either
        self.rows += table.num_rows
        self.present |= set(table.column_names)
        ins, res = flags(table, C.INSTRUCTION_REFLECTED), flags(table, C.RESPONSE_REFLECTED)
        for label, n in outcome_split(ins, res).items():
            self.pie[label] += n
        for _, status, taken in STEPS:
            if status in table.column_names and table[status].null_count < table.num_rows:
                self.status_seen.add(status)
                ok = pc.sum(pc.equal(table[status], "ok")).as_py() or 0
                self.reflected[status] = self.reflected.get(status, 0) + ok
            self.taken[taken] = self.taken.get(taken, 0) + int(flags(table, taken).sum())
        self._add_scores(table)

    def _add_scores(self, table: pa.Table) -> None:
        kept = C.kept_mask(table[C.OUTCOME])
        for name in (ORIG_IFD, C.FINAL_IFD):
            values = scores(table, name)
            values = values[np.isfinite(values)]
            tally = self.above_one.setdefault(name, [0, 0])
            tally[0] += int((values > 1.0).sum())
            tally[1] += values.size
        for _, befores, after in HISTOGRAMS:
            for name in befores:
                self._extend(name, scores(table, name))
            self._extend(after, scores(table, after)[kept])
        both = np.isfinite(scores(table, C.FINAL_IFD)) & np.isfinite(scores(table, C.FINAL_RIFD))
        self.points += int(both.sum())

    def _extend(self, name: str, values: np.ndarray) -> None:
        values = values[np.isfinite(values)]
        if values.size:
            lo, hi = self.ranges.get(name, [math.inf, -math.inf])
            self.ranges[name] = [min(lo, float(values.min())), max(hi, float(values.max()))]


def outcome_split(ins: np.ndarray, res: np.ndarray) -> dict[str, int]:
    """Samples per (rewritten instruction taken?, rewritten response taken?): the paper's pie."""
    labels = figures.OUTCOME_LABELS
    return {
        labels[0]: int((ins & res).sum()),
        labels[1]: int((ins & ~res).sum()),
        labels[2]: int((~ins & res).sum()),
        labels[3]: int((~ins & ~res).sum()),
    }


@dataclass
class ReportTally:
    """Everything the report shows of a run's rows (`tally_run`); none of the rows themselves."""

    counts: RowCounts
    histograms: dict[str, tuple[figures.Binned, figures.Binned]]  # name -> (before, after)
    scatter: figures.ScatterPoints | None
    examples: dict[str, list[str]]  # part file -> sample ids shown (ExampleChooser.chosen)

    @property
    def rows(self) -> int:
        """Scored rows (kept and dropped)."""
        return self.counts.rows

    def outcome_counts(self) -> dict[str, int]:
        """The pie's counts; {} when no part file has the two "taken" columns."""
        need = {C.INSTRUCTION_REFLECTED, C.RESPONSE_REFLECTED}
        return dict(self.counts.pie) if need <= self.counts.present else {}

    def rewrite_counts(self) -> list[list[Any]]:
        """Per step: samples scored, rewrites reflected (parsed), not reflected, taken."""
        c, out = self.counts, []
        for step, status, taken in STEPS:
            if status in c.status_seen:
                ok = c.reflected.get(status, 0)
                out.append([step, c.rows, ok, c.rows - ok, c.taken.get(taken, 0)])
        return out

    def ifd_above_one(self) -> tuple[int, int]:
        """(IFD values above 1, finite IFD values): of the original pairs, else the final ones."""
        name = ORIG_IFD if ORIG_IFD in self.counts.present else C.FINAL_IFD
        above, n = self.counts.above_one.get(name, [0, 0])
        return above, n


class _Drawing:
    """The second pass over the scored rows: histogram counts over the first pass's bins, the
    scatter's drawn points."""

    def __init__(self, counts: RowCounts):
        self.columns: dict[str, tuple[str, str]] = {}  # histogram -> (before column, after column)
        self.histograms: dict[str, tuple[figures.Binned, figures.Binned]] = {}
        for name, befores, after in HISTOGRAMS:
            before = next((b for b in befores if b in counts.present), befores[-1])
            spans = [counts.ranges[c] for c in (before, after) if c in counts.ranges]
            if spans:
                edges = figures.hist_edges(min(s[0] for s in spans), max(s[1] for s in spans))
                self.columns[name] = (before, after)
                self.histograms[name] = (figures.Binned(edges), figures.Binned(edges))
        both = {C.FINAL_IFD, C.FINAL_RIFD} <= counts.present
        # the drawn points' places among the finite ones, ascending; None: no scatter
        self.drawn_at = figures.drawn_positions(counts.points) if both else None
        self.seen = 0  # finite points passed so far
        self.points: tuple[list, list, list] = ([], [], [])  # ifd, r-IFD, reason of the drawn
        self.group_counts: dict[str | None, int] = {}

    def add(self, table: pa.Table) -> None:
        kept = C.kept_mask(table[C.OUTCOME])
        for name, (before, after) in self.columns.items():
            self.histograms[name][0].add(scores(table, before))
            self.histograms[name][1].add(scores(table, after)[kept])
        if self.drawn_at is not None:
            self._add_points(table)

    def _add_points(self, table: pa.Table) -> None:
        ifd, rifd = scores(table, C.FINAL_IFD), scores(table, C.FINAL_RIFD)
        ok = np.flatnonzero(np.isfinite(ifd) & np.isfinite(rifd))  # (P,) rows of finite points
        reasons = row_reasons(table)[ok]
        for group, n in Counter(figures.scatter_group(reasons)).items():
            self.group_counts[group] = self.group_counts.get(group, 0) + n
        lo, hi = np.searchsorted(self.drawn_at, [self.seen, self.seen + ok.size])
        pick = self.drawn_at[lo:hi] - self.seen  # the drawn points among this file's finite ones
        for drawn, values in zip(self.points, (ifd[ok], rifd[ok], reasons), strict=True):
            drawn.append(values[pick])
        self.seen += ok.size

    def scatter(self) -> figures.ScatterPoints | None:
        if self.drawn_at is None:
            return None
        ifd, rifd, reasons = (np.concatenate(p) if p else np.array([]) for p in self.points)
        return figures.ScatterPoints(ifd, rifd, reasons.astype(object), self.group_counts)


def _offer_examples(
    fs: pafs.FileSystem, path: str, table: pa.Table, chooser: ExampleChooser
) -> None:
    """Offer a part file's rows to the chooser, reading its texts only when they can matter."""
    if chooser.needs_texts(table):
        texts = read_part(fs, path, list(CHANGE_COLUMNS), missing_ok=True)
        chooser.add(path, table, changed(texts))


def tally_run(run_dir: str) -> ReportTally:
    """Read a run directory's part files (twice the scored ones' light columns, once the rejected
    ones' outcome and reason, texts only where an example can still change) into a ReportTally."""
    fs, _ = filesystem(run_dir)
    scored = [p for o in SCORED for p in outcome_files(run_dir, o)]
    counts = RowCounts()
    for path in scored:
        counts.add(read_part(fs, path, list(LIGHT_COLUMNS), missing_ok=True))
    drawing, chooser = _Drawing(counts), ExampleChooser()
    for path in scored:
        table = read_part(fs, path, list(LIGHT_COLUMNS), missing_ok=True)
        drawing.add(table)
        _offer_examples(fs, path, table, chooser)
    for path in outcome_files(run_dir, C.OUTCOME_REJECTED):
        light = read_part(fs, path, [C.SAMPLE_ID, C.OUTCOME, C.REASON], missing_ok=True)
        _offer_examples(fs, path, light, chooser)
    return ReportTally(counts, drawing.histograms, drawing.scatter(), chooser.chosen())
