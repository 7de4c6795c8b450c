"""The cost of the report's Table 6 statistics: the same run with them and without, side by side.

In one Ray session, on the same rows, a tiny student and a local teacher whose answers are all
cached by a first (warm-up) run, so the student and the fixed costs are all that is timed:

    off: selective run, output.report_stats=false
    on:  selective run, output.report_stats=true (Table 6 of the original and the final data)

Each measured run starts from an empty output folder. The ratio on / off is the statistics' cost
(goal <= 1.15x); the manifest's per-phase timings and the wall time of the run with statistics
(the lean-start goal: <= 60 s for 300 rows on 2 cores) are reported too, with the CPU seconds of
each process role during each run (recycle.bench.cpu): on a CPU-bound machine, where the time went.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from recycle.bench.cpu import CpuByProcess
from recycle.bench.data import alpaca_rows
from recycle.testing.tiny_student import build_tiny_model, build_tokenizer

COMMON = (
    "teacher.model=local-teacher", "teacher.num_actors=1", "teacher.concurrency=8",
    "student.num_actors=1", "student.batch_size=16", "student.max_length=1024",
    "output.overwrite=true",
)  # fmt: skip


def prepare(work: Path, rows: int, hidden: int = 128, layers: int = 4) -> tuple[Path, Path]:
    """The first `rows` Alpaca rows as JSON and a tiny student trained-tokenizer model on them."""
    data = alpaca_rows(rows)
    path = work / "rows.json"
    path.write_text(json.dumps(data))
    texts = [r.get(k, "") for r in data for k in ("instruction", "input", "output")]
    tokenizer = build_tokenizer(work, texts, vocab_size=4000)
    return path, build_tiny_model(work, tokenizer, layers=layers, hidden=hidden)


def timed_run(
    overrides: list[str], cpu: CpuByProcess | None = None
) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one `run_pipeline` and its manifest; `cpu` records CPU per process role."""
    from recycle.commands.pipeline import run_pipeline
    from recycle.config import load_config

    t0 = time.perf_counter()
    with cpu or contextlib.nullcontext():
        manifest = run_pipeline(load_config(None, overrides))
    return time.perf_counter() - t0, manifest


def side_by_side(work: Path, data: Path, student: Path, teacher_url: str) -> dict[str, Any]:
    """Warm the teacher cache, then time the run without and with statistics (same session)."""
    common = [
        *COMMON, f"data.input='{data}'", f"student.model='{student}'",
        f"teacher.base_url={teacher_url}", f"teacher.cache_dir='{work / 'cache'}'",
    ]  # fmt: skip
    timed_run([*common, f"output.dir='{work / 'warm'}'", "output.report_stats=false"])
    out: dict[str, Any] = {}
    for name, flag in (("off", "false"), ("on", "true")):
        cpu = CpuByProcess()
        wall, manifest = timed_run(
            [*common, f"output.dir='{work / name}'", f"output.report_stats={flag}"], cpu
        )
        out[name] = {"wall_s": wall, "timings_s": manifest["timings_s"], "cpu": cpu}
        out[name]["stats"] = manifest.get("stats", {})
    out["ratio"] = out["on"]["wall_s"] / out["off"]["wall_s"]
    return out


def report_lines(result: dict[str, Any], rows: int) -> list[str]:
    """Human lines; the last one is the ratio."""
    lines = [f"rows: {rows}, cached teacher, tiny student"]
    for name in ("off", "on"):
        phases = "  ".join(f"{k} {v:.1f}s" for k, v in result[name]["timings_s"].items())
        lines.append(f"statistics {name}: {result[name]['wall_s']:.1f}s wall ({phases})")
        lines += result[name]["cpu"].lines()
    lines.append(f"{rows} rows, statistics on: {result['on']['wall_s']:.1f}s wall (goal <= 60 s)")
    lines.append(f"statistics cost: {result['ratio']:.2f}x")
    return lines
