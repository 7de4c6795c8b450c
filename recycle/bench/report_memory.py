"""Does the report's memory grow with the rows? `recycle report` on run directories of growing size.

Each size gets a run directory built without the pipeline (`write_run_dir`): part files written
by the run's own writer (`rundir.write_outcome_batch`, batches of 256 rows, as a stream writes
them), with the columns a selective run has that the report reads, a teacher's raw answers it does
not, and real Alpaca texts (bench/data.py); scores drawn with a seed, outcomes from the authors'
filter on them, rewritten texts for the rows whose rewrite was taken, 2% more rows rejected as
duplicates.

Each report runs in a fresh Python process (`in_fresh_process`), with a driver's Arrow memory pool
(`use_returning_memory_pool`, as `init_ray` sets it): imports and warm-up reports of a 200-row and
a 1,000-row run directory first (matplotlib's first figures, the first reads, the allocator's
first growth: a first report of 1,000 rows after one of 200 rows left 5-10 MB, a second none),
then the measured report. What it adds: the process's resident memory after the report over
before it (garbage collected both times), and the peak over before it, sampled every 20 ms.
Repeated `repeat` times per size in fresh processes, median taken; the figure is the growth per
row between the sizes, the goal <= 100 bytes a row. The resident memory of one size varies by a
few MB between processes (what glibc keeps of freed memory); so, after it, the same report once
more under tracemalloc: the peak of what Python and numpy held at once, which does not vary.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa

from recycle import columns as C
from recycle.bench.data import alpaca_rows
from recycle.bench.scale import PeakMemory
from recycle.rundir import build_manifest, count_outcomes, write_manifest, write_outcome_batch

BATCH_ROWS = 256
WARMUP_ROWS = (200, 1000)
GOAL_BYTES_PER_ROW = 100
MB = 2**20


def _batch(base: list[dict[str, str]], start: int, n: int, rng: np.random.Generator) -> pa.Table:
    """Rows start..start+n of a selective run: texts from `base`, scores and choices from `rng`."""
    i = np.arange(start, start + n)
    row = [base[k % len(base)] for k in i]
    new_ins, new_res = rng.random(n) < 0.75, rng.random(n) < 0.6  # rewrites taken
    final_ifd, final_rifd = rng.normal(0.95, 0.15, n), rng.normal(0.97, 0.1, n)
    reason = np.select(
        [final_ifd >= 1, final_rifd >= 1, ~new_res],
        ["ifd_not_below_one", "rifd_not_below_one", "response_not_reflected"],
        "",
    )
    other = [base[(k * 7 + 3) % len(base)] for k in i]  # a rewrite: another real row's text
    ins = [r[C.INSTRUCTION] for r in row]
    out = [r[C.OUTPUT] for r in row]
    final_ins = [o[C.INSTRUCTION] if t else x for o, t, x in zip(other, new_ins, ins, strict=True)]
    final_out = [o[C.OUTPUT] if t else y for o, t, y in zip(other, new_res, out, strict=True)]
    table = {
        C.SAMPLE_ID: [f"{k:024x}" for k in i],
        C.INSTRUCTION: ins,
        C.INPUT: [r.get(C.INPUT, "") for r in row],
        C.OUTPUT: out,
        C.OUTCOME: np.where(reason == "", C.OUTCOME_KEPT, C.OUTCOME_DROPPED).tolist(),
        C.REASON: reason.tolist(),
        C.DETAIL: [""] * n,
        C.REFLECT_INSTRUCTION_STATUS: ["ok"] * n,
        "reflect_instruction_raw": [f"[New Instruction] {x} [End]" for x in final_ins],
        C.INSTRUCTION_REFLECTED: new_ins.tolist(),
        C.REFLECT_RESPONSE_STATUS: np.where(rng.random(n) < 0.9, "ok", "no_markers").tolist(),
        "reflect_response_raw": [f"[Better Answer] {y} [End]" for y in final_out],
        C.RESPONSE_REFLECTED: new_res.tolist(),
        C.FINAL_INSTRUCTION: final_ins,
        C.FINAL_INPUT: [r.get(C.INPUT, "") for r in row],
        C.FINAL_OUTPUT: final_out,
        C.scored(C.ORIG, C.IFD): rng.normal(0.85, 0.15, n),
        C.scored(C.PAIR1, C.RIFD): rng.normal(0.9, 0.12, n),
        C.FINAL_IFD: final_ifd,
        C.FINAL_RIFD: final_rifd,
    }
    return pa.table(table)


def _duplicates(batch: pa.Table, every: int = 50) -> pa.Table:
    """Every `every`-th row of a batch as a validation reject: a duplicate (its raw row only)."""
    picked = batch.take(np.arange(0, batch.num_rows, every))
    n = picked.num_rows
    return pa.table(
        {
            C.SAMPLE_ID: picked[C.SAMPLE_ID],
            C.OUTCOME: [C.OUTCOME_REJECTED] * n,
            C.REASON: ["duplicate"] * n,
            C.DETAIL: ["same as an earlier row"] * n,
            C.RAW: [json.dumps({"instruction": x}) for x in picked[C.INSTRUCTION].to_pylist()],
        }
    )


def write_run_dir(folder: Path, rows: int, seed: int = 0) -> Path:
    """A finished selective run's directory: `rows` scored rows and 2% more rejected as duplicates
    (part files and a manifest)."""
    base, rng = alpaca_rows(), np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, rows, BATCH_ROWS):
        batch = _batch(base, start, min(BATCH_ROWS, rows - start), rng)
        write_outcome_batch(batch, str(folder), part_prefix="part")
        write_outcome_batch(_duplicates(batch), str(folder), part_prefix="validate")
    counts = count_outcomes(str(folder))
    n_input = rows + sum(counts["rejected"].values())  # the duplicates were input rows too
    config = {"output": {"dir": str(folder)}, "selection": {"mode": "selective"}}
    manifest = build_manifest("run", n_input, counts, config, {})
    write_manifest(str(folder), manifest)
    return folder


@dataclass
class ReportMemory:
    """One report of `rows` rows in a fresh process: resident MB before, after, at the peak."""

    rows: int
    start_mb: float
    end_mb: float
    peak_mb: float
    wall_s: float
    traced_peak_mb: float  # Python's and numpy's peak during the same report run again, traced

    @property
    def added_mb(self) -> float:
        return self.end_mb - self.start_mb


def measure(run_dir: Path, warmups: list[Path], rows: int) -> ReportMemory:
    """The report of `run_dir` in this process, after warm-up reports of `warmups`."""
    from recycle.ray_utils import use_returning_memory_pool
    from recycle.report import write_report

    use_returning_memory_pool()
    for warmup in warmups:
        write_report(str(warmup))
    gc.collect()
    with PeakMemory(every_s=0.02) as peak:
        t0 = time.perf_counter()
        write_report(str(run_dir))
        wall = time.perf_counter() - t0
    gc.collect()
    end = psutil.Process().memory_info().rss
    tracemalloc.start()
    write_report(str(run_dir))
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    mb = (peak.start / MB, end / MB, max(peak.peak, end) / MB)
    return ReportMemory(rows, *mb, wall, traced / MB)


def in_fresh_process(run_dir: Path, warmups: list[Path], rows: int) -> ReportMemory:
    """`measure` in a Python process of its own (nothing earlier reports left in it)."""
    cmd = [sys.executable, "-m", "recycle.bench.report_memory", str(rows), str(run_dir),
           *map(str, warmups)]  # fmt: skip
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return ReportMemory(**json.loads(done.stdout.strip().splitlines()[-1]))


def run_sizes(work: Path, sizes: list[int], repeat: int) -> list[ReportMemory]:
    """Every size's run directory (built once), its report measured `repeat` times."""
    warmups = [write_run_dir(work / f"warmup-{n}", n, seed=1) for n in WARMUP_ROWS]
    out = []
    for rows in sorted(sizes):
        run_dir = write_run_dir(work / f"run-{rows}", rows)
        for _ in range(repeat):
            out.append(in_fresh_process(run_dir, warmups, rows))
            print(f"  {rows} rows: {_line(out[-1])}", flush=True)
    return out


def _line(m: ReportMemory) -> str:
    return (
        f"start {m.start_mb:.1f} MB, added {m.added_mb:+.1f} MB (peak {m.peak_mb - m.start_mb:+.1f})"
        f", {m.wall_s:.1f} s; traced peak {m.traced_peak_mb:.1f} MB"
    )


def report_lines(measures: list[ReportMemory]) -> list[str]:
    """Per size: the median added, peak and traced peak MB; last line: the growth per row."""
    sizes = sorted({m.rows for m in measures})

    def median(value: Callable[[ReportMemory], float]) -> dict[int, float]:
        return {n: statistics.median(value(m) for m in measures if m.rows == n) for n in sizes}

    added, peak = median(lambda m: m.added_mb), median(lambda m: m.peak_mb - m.start_mb)
    traced = median(lambda m: m.traced_peak_mb)
    lines = [
        f"{n:>7} rows: added {added[n]:+.1f} MB, peak {peak[n]:+.1f} MB, traced peak "
        f"{traced[n]:.1f} MB"
        for n in sizes
    ]
    slopes = [
        f"{_k(sizes[0])}->{_k(n)}: {(added[n] - added[sizes[0]]) * MB / (n - sizes[0]):.0f} bytes"
        for n in sizes[1:]
    ]
    lines.append(
        "report added MB "
        + ", ".join(f"{n}: {mb:.1f}" for n, mb in added.items())
        + "; per row "
        + ", ".join(slopes)
        + f" (goal <= {GOAL_BYTES_PER_ROW}); traced peak MB "
        + ", ".join(f"{mb:.1f}" for mb in traced.values())
    )
    return lines


def _k(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main(argv: list[str]) -> None:
    rows, run_dir, *warmups = argv
    m = measure(Path(run_dir), [Path(w) for w in warmups], int(rows))
    print(json.dumps(dataclasses.asdict(m)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
