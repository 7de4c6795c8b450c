"""One step of the scale benchmark at one size, in a driver process of its own.

    python -m recycle.bench.scale_driver WORK ROWS STEP STUDENT TEACHER_URL WARMUP

Starts its own local Ray, runs the step untimed on WARMUP rows (imports, actor start-up, model
files in the page cache), then measured on ROWS rows; prints the Measure as JSON, last line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import ray

from recycle.bench.scale import one_size
from recycle.ray_utils import local_system_config


def main(argv: list[str]) -> None:
    work, rows, step, student, teacher_url, warmup = argv
    work_dir, student_dir = Path(work), Path(student)
    ray.init(
        address="local", num_cpus=2, include_dashboard=False,
        _system_config=local_system_config(),
    )  # fmt: skip
    ray.data.DataContext.get_current().enable_progress_bars = False
    one_size(work_dir / f"warmup-{step}-{rows}", int(warmup), student_dir, teacher_url, (step,))
    (measure,) = one_size(work_dir, int(rows), student_dir, teacher_url, (step,))
    ray.shutdown()
    print(measure.to_json(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
