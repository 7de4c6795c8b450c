"""Benchmark: the memory `recycle report` adds to its process at growing sizes; flat in the rows?

    python jobs/bench_report.py                        # 1k, 4k, 16k, 64k rows, 5 times each
    python jobs/bench_report.py --rows 1000 16000 --repeat 1
Run directories are built without the pipeline (real Alpaca texts, drawn scores); each report
runs in a fresh process after warm-up reports. Last line: the median MB each size's report
added, the growth per row from the smallest size (goal <= 100 bytes a row), and the peak of
what Python and numpy held during it (tracemalloc).
Logic in recycle/bench/report_memory.py.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from recycle.bench.report_memory import report_lines, run_sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 4000, 16000, 64000])
    ap.add_argument("--repeat", type=int, default=5, help="fresh processes per size (median)")
    ap.add_argument("--work", type=Path, default=None, help="folder for the run directories")
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_report_"))
    print("\n".join(report_lines(run_sizes(work, args.rows, args.repeat))))


if __name__ == "__main__":
    main()
