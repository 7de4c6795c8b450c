"""Benchmark: do the teacher and student stages overlap in time?

In one Ray session, on the same rows, a fixed-latency local teacher and a small student:
  teacher-only: mode `recycle` (both reflections, no student), fresh cache
  full:         mode `selective`, fresh cache
  student-only: mode `selective` again with the full run's cache warm (the teacher answers at once)
Target: full <= 1.2 x max(teacher-only, student-only), must be <= 1.5x.

    python jobs/bench_pipeline.py --rows 160 --latency 0.4
Last line: `overlap: N.NNx`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import ray

from recycle.commands.pipeline import run_pipeline
from recycle.config import load_config
from recycle.ray_utils import local_system_config
from recycle.testing.local_server import LocalTeacherServer
from recycle.testing.tiny_student import build_tiny_model, build_tokenizer

ALPACA = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "alpaca_cherry_5_percent.json"
)


def timed(cfg_overrides: list[str]) -> float:
    t0 = time.perf_counter()
    run_pipeline(load_config(None, cfg_overrides))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=160)
    ap.add_argument("--latency", type=float, default=0.4, help="teacher seconds per answer")
    ap.add_argument(
        "--concurrency", type=int, default=4, help="requests in flight per teacher actor"
    )
    ap.add_argument("--hidden", type=int, default=128, help="student width")
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args()

    rows = json.loads(ALPACA.read_text())[: args.rows]
    work = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    data = work / "rows.json"
    data.write_text(json.dumps(rows))
    texts = [t for r in rows for t in (r["instruction"], r["input"], r["output"])]
    student = build_tiny_model(
        work, build_tokenizer(work, texts, vocab_size=4000), layers=args.layers, hidden=args.hidden
    )
    ray.init(num_cpus=2, include_dashboard=False, _system_config=local_system_config())
    ray.data.DataContext.get_current().enable_progress_bars = False
    with LocalTeacherServer(latency_s=args.latency) as server:
        common = [
            f"data.input='{data}'", f"student.model='{student}'", f"teacher.base_url={server.base_url}",
            "teacher.model=local-teacher", "teacher.num_actors=1", f"teacher.concurrency={args.concurrency}",
            "student.num_actors=1", "student.batch_size=16", "student.max_length=1024",
        ]  # fmt: skip
        teacher_only = timed(
            [*common, f"output.dir='{work / 'teacher'}'", "selection.mode=recycle"]
        )
        full = timed(
            [*common, f"output.dir='{work / 'full'}'", f"teacher.cache_dir='{work / 'cache'}'"]
        )
        n_full = server.stats.requests
        student_only = timed(
            [*common, f"output.dir='{work / 'student'}'", f"teacher.cache_dir='{work / 'cache'}'"]
        )
        assert server.stats.requests == n_full, "the student-only run must not reach the teacher"
    bound = max(teacher_only, student_only)
    print(f"rows: {args.rows}, teacher latency {args.latency}s x {args.concurrency} in flight")
    print(
        f"teacher-only: {teacher_only:.1f}s  student-only: {student_only:.1f}s  full: {full:.1f}s"
    )
    print(f"overlap: {full / bound:.2f}x")


if __name__ == "__main__":
    main()
