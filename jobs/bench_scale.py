"""Benchmark: validate and the whole stream at growing sizes; does the cost per row stay flat?

    python jobs/bench_scale.py                 # 1k, 4k, 16k rows
    python jobs/bench_scale.py --rows 4000 16000 64000
Last line: the marginal cost per row at the largest size over the smallest, per step (goal
<= 1.1x), and the driver's peak memory at each size (goal: <= 10% growth). Logic in
recycle/bench/scale.py.

Each step at each size runs in a fresh driver process (its own local Ray, a warm-up of the same
step, then the measured step), one after another; this process holds the tiny student and the
teacher, which answers at once from a process of its own.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from recycle.bench.scale import STEPS, report_lines, student_for
from recycle.bench.scale_driver import in_fresh_driver
from recycle.testing.server_process import ServerProcess


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 4000, 16000])
    ap.add_argument("--warmup", type=int, default=200, help="rows of an untimed first pass")
    ap.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    student = student_for(work)
    measures = []
    with ServerProcess() as server:
        for rows in sorted(args.rows):
            for step in args.steps:
                measures.append(
                    in_fresh_driver(work, rows, step, student, server.base_url, args.warmup)
                )
            print("\n".join(report_lines(measures)[-1:]), flush=True)
    print("\n".join(report_lines(measures)))


if __name__ == "__main__":
    main()
