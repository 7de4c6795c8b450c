"""Benchmark: a 200-row stream on a three-node cluster on this machine, without and with a worker
node lost part-way (the node running a teacher actor; a new node is added, as an autoscaler does).

    python jobs/bench_nodeloss.py --rows 200
Last line: the wall-time ratio and the prompts sent twice (goal <= 1.5x, <= 2%).
Logic in recycle/bench/nodeloss.py.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from recycle.bench.nodeloss import report_lines, side_by_side


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2, help="worker nodes (1 CPU each)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_nodeloss_"))
    print("\n".join(report_lines(side_by_side(work, args.rows, args.workers))))


if __name__ == "__main__":
    main()
