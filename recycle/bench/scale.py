"""Does every stage's cost per row stay flat as the input grows? Validate and the whole stream at
growing sizes, side by side in one benchmark run.

Each size gets its own synthetic input (real Alpaca rows made unique, 2% duplicates) and, per
step, a fresh output folder: `recycle validate`, then `recycle run` in selective mode with the
local teacher answering at once (in its own process; fresh cache: every prompt is sent) and the
tiny student, with the report's statistics off, then on. Each step at each size runs in a fresh
driver process of its own (recycle/bench/scale_driver.py: its own local Ray, an untimed warm-up
of the same step, then the measured step), as each `ray job submit` is: the driver's peak is
then that step's alone, not what earlier steps left in the process (glibc's and Ray's native
memory, which a long-lived process keeps). While the step runs, a thread samples the driver's
resident memory.

The figures: the marginal cost per row between consecutive sizes, (T(n_i) - T(n_{i-1})) /
(n_i - n_{i-1}), which takes out the fixed costs (Ray and actor start-up, model loads); their
ratio, largest size over smallest (goal <= 1.1x: nothing grows faster than the rows); and the
driver's peak memory at each size (goal: <= 10% growth from the smallest size to the largest),
with what each step added over the memory it had when it began (after its warm-up).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from recycle.bench.data import alpaca_rows, write_synthetic
from recycle.logs import PROGRESS_LOGGER
from recycle.testing.tiny_student import build_tiny_model, build_tokenizer

STEPS = ("validate", "stream", "stream+stats")
COMMON = (
    "teacher.model=local-teacher", "teacher.num_actors=1", "teacher.concurrency=16",
    "student.num_actors=1", "student.batch_size=16", "student.max_length=512",
)  # fmt: skip


class PeakMemory:
    """The peak resident memory of this process while the block runs (sampled every `every_s`)."""

    def __init__(self, every_s: float = 0.1):
        self.every_s, self.peak = every_s, 0
        self.start = psutil.Process().memory_info().rss  # what earlier steps left in the process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        proc = psutil.Process()
        while True:
            self.peak = max(self.peak, proc.memory_info().rss)
            if self._stop.wait(self.every_s):
                return

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@dataclass
class Measure:
    """One step at one size: wall seconds, the driver's peak memory, what the manifest counted."""

    rows: int
    step: str
    wall_s: float
    peak_mb: float
    start_mb: float  # the driver's memory when the step began (after its warm-up)
    counts: dict[str, Any] = field(default_factory=dict)
    eta: tuple[float, float] | None = None  # (ETA said at half way, seconds it really took)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Measure:
        fields = json.loads(text)
        return cls(**{**fields, "eta": tuple(fields["eta"]) if fields["eta"] else None})


def student_for(work: Path, hidden: int = 64, layers: int = 2) -> Path:
    """A tiny student with a tokenizer trained on the Alpaca rows the inputs are made from."""
    texts = [r.get(k, "") for r in alpaca_rows() for k in ("instruction", "input", "output")]
    return build_tiny_model(work, build_tokenizer(work, texts, vocab_size=4000), layers, hidden)


class EtaProbe(logging.Handler):
    """Keeps the stream's progress lines with their time; `halfway()` compares the ETA of the
    first line past half the samples with the time the stage really took from there."""

    LINE = re.compile(r"^reflect\+score: (\d+)/(\d+) samples.*ETA (?:(\d+)h)?(?:(\d+)m)?(\d+)?s?")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((time.monotonic(), record.getMessage()))

    def __enter__(self) -> EtaProbe:
        logger = logging.getLogger(PROGRESS_LOGGER)
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(PROGRESS_LOGGER).removeHandler(self)

    def halfway(self) -> tuple[float, float] | None:
        """(ETA said, seconds it really took) at the first line past half way; None without one."""
        for at, line in self.lines:
            m = self.LINE.match(line)
            if m and int(m[1]) >= int(m[2]) / 2:
                said = 3600 * int(m[3] or 0) + 60 * int(m[4] or 0) + int(m[5] or 0)
                last = max(t for t, text in self.lines if text.startswith("reflect+score"))
                return float(said), last - at
        return None


def measured(rows: int, step: str, command: Callable[..., dict[str, Any]], cfg: Any) -> Measure:
    """Time one command and sample the driver's memory (and the progress lines) while it runs."""
    with PeakMemory() as memory, EtaProbe() as probe:
        t0 = time.perf_counter()
        manifest = command(cfg)
        wall = time.perf_counter() - t0
    mb = 2**20
    return Measure(
        rows, step, wall, memory.peak / mb, memory.start / mb, manifest["counts"], probe.halfway()
    )


def one_size(
    work: Path, rows: int, student: Path, teacher_url: str, steps: tuple[str, ...] = STEPS
) -> list[Measure]:
    """The `steps` (validate, stream, stream with statistics), each into a fresh folder of `work`."""
    from recycle.commands.pipeline import run_pipeline
    from recycle.commands.validate import run_validate
    from recycle.config import load_config

    data = write_synthetic(work / f"in-{rows}", rows, files=4)
    common = [*COMMON, f"data.input='{data}'", f"student.model='{student}'",
              f"teacher.base_url={teacher_url}"]  # fmt: skip
    out = []
    for step in steps:
        folder = work / f"{step}-{rows}"
        overrides = [
            *common, f"output.dir='{folder}'", f"teacher.cache_dir='{folder / 'cache'}'",
            f"output.report_stats={'true' if step == 'stream+stats' else 'false'}",
        ]  # fmt: skip
        command = run_validate if step == "validate" else run_pipeline
        out.append(measured(rows, step, command, load_config(None, overrides)))
    return out


def marginal_ms(measures: list[Measure], step: str) -> list[tuple[int, float]]:
    """(size, ms per added row from the previous size) for each size after the smallest."""
    points = sorted((m.rows, m.wall_s) for m in measures if m.step == step)
    return [
        (n, 1000 * (t - t0) / (n - n0))
        for (n0, t0), (n, t) in zip(points, points[1:], strict=False)
    ]


def report_lines(measures: list[Measure]) -> list[str]:
    """One line per step and size, the marginal costs, the driver's peaks; last line: the verdict."""
    lines = []
    for m in sorted(measures, key=lambda m: (STEPS.index(m.step), m.rows)):
        lines.append(
            f"{m.step:>13} {m.rows:>7} rows: {m.wall_s:7.1f} s wall, "
            f"{1000 * m.wall_s / m.rows:6.2f} ms/row, driver peak {m.peak_mb:6.0f} MB "
            f"(+{m.peak_mb - m.start_mb:.0f} over its start), "
            f"kept {m.counts.get('kept', 0)}"
            + (f", ETA at half way {m.eta[0]:.0f} s, took {m.eta[1]:.0f} s" if m.eta else "")
        )
    ratios: list[tuple[str, float]] = []
    growth: list[float] = []
    for step in [s for s in STEPS if any(m.step == s for m in measures)]:
        marg = marginal_ms(measures, step)
        lines.append(f"{step} marginal ms/row: " + ", ".join(f"{n}: {ms:.2f}" for n, ms in marg))
        if len(marg) >= 2:
            ratios.append((step, marg[-1][1] / marg[0][1]))
        peaks = sorted((m.rows, m.peak_mb) for m in measures if m.step == step)
        growth.append(peaks[-1][1] / peaks[0][1] - 1)
    sizes = sorted({m.rows for m in measures})
    peak_by_size = {n: max(m.peak_mb for m in measures if m.rows == n) for n in sizes}
    added = {n: max(m.peak_mb - m.start_mb for m in measures if m.rows == n) for n in sizes}
    span = f"{sizes[-2]}->{sizes[-1]} over {sizes[0]}->{sizes[1]} rows" if len(sizes) > 2 else ""
    lines.append(
        f"marginal cost per row, {span}: "
        + ", ".join(f"{s} {r:.2f}x" for s, r in ratios)
        + "; driver peak MB "
        + ", ".join(f"{n}: {mb:.0f}" for n, mb in peak_by_size.items())
        + f" (growth {100 * max(growth):+.0f}%); added within a step, MB "
        + ", ".join(f"{n}: {mb:.0f}" for n, mb in added.items())
    )
    return lines
