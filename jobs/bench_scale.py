"""Benchmark: validate and the whole stream at growing sizes; does the cost per row stay flat?

    python jobs/bench_scale.py                 # 1k, 4k, 16k rows
    python jobs/bench_scale.py --rows 4000 16000 64000
Last line: the marginal cost per row at the largest size over the smallest, per step (goal
<= 1.1x), and the driver's peak memory at each size (goal: <= 10% growth). Logic in
recycle/bench/scale.py.

The sizes share this process: it restarts itself once with MALLOC_ARENA_MAX=2 for itself alone
(`with_capped_arenas`), so that later sizes' peaks do not carry what glibc kept from earlier
ones. `--arenas default` measures without the cap.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import ray

from recycle.bench.scale import STEPS, one_size, report_lines, student_for, with_capped_arenas
from recycle.ray_utils import local_system_config
from recycle.testing.server_process import ServerProcess


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 4000, 16000])
    ap.add_argument("--warmup", type=int, default=200, help="rows of an untimed first pass")
    ap.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    ap.add_argument(
        "--arenas", choices=("capped", "default"), default="capped",
        help="glibc's arenas in this process: capped at 2 (a restart), or as the environment says",
    )  # fmt: skip
    args = ap.parse_args()
    if args.arenas == "capped":
        with_capped_arenas()

    work = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    student = student_for(work)
    ray.init(num_cpus=2, include_dashboard=False, _system_config=local_system_config())
    ray.data.DataContext.get_current().enable_progress_bars = False
    measures = []
    # The teacher in its own process, as a real endpoint: the driver's memory is the driver's.
    with ServerProcess() as server:
        steps = tuple(args.steps)
        one_size(work / "warmup", args.warmup, student, server.base_url, steps)
        for rows in sorted(args.rows):
            measures += one_size(work, rows, student, server.base_url, steps)
            print("\n".join(report_lines(measures)[-1:]), flush=True)
    ray.shutdown()
    print("\n".join(report_lines(measures)))


if __name__ == "__main__":
    main()
