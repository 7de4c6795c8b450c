"""Benchmark: a run with the report's Table 6 statistics against the same run without them.

    python jobs/bench_stats.py --rows 300
Last line: `statistics cost: N.NNx` (goal <= 1.15x). Logic in recycle/bench/stats.py.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import ray

from recycle.bench.stats import prepare, report_lines, side_by_side
from recycle.ray_utils import local_system_config
from recycle.testing.local_server import LocalTeacherServer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--hidden", type=int, default=128, help="student width")
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_stats_"))
    data, student = prepare(work, args.rows, args.hidden, args.layers)
    ray.init(num_cpus=2, include_dashboard=False, _system_config=local_system_config())
    ray.data.DataContext.get_current().enable_progress_bars = False
    with LocalTeacherServer() as server:
        result = side_by_side(work, data, student, server.base_url)
    ray.shutdown()
    print("\n".join(report_lines(result, args.rows)))


if __name__ == "__main__":
    main()
