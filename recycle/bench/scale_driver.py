"""One step of the scale benchmark at one size, in a driver process of its own
(`in_fresh_driver` starts it):

    python -m recycle.bench.scale_driver WORK ROWS STEP STUDENT TEACHER_URL WARMUP

Starts its own local Ray, runs the step untimed on WARMUP rows (imports, actor start-up, model
files in the page cache), then measured on ROWS rows; prints the Measure as JSON, last line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ray

from recycle.bench.scale import Measure, one_size
from recycle.ray_utils import local_system_config


def in_fresh_driver(
    work: Path, rows: int, step: str, student: Path, teacher_url: str, warmup: int
) -> Measure:
    """`one_size` for one step, in a driver process of its own after a warm-up of `warmup` rows."""
    cmd = [sys.executable, "-m", "recycle.bench.scale_driver", str(work), str(rows), step,
           str(student), teacher_url, str(warmup)]  # fmt: skip
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return Measure.from_json(done.stdout.strip().splitlines()[-1])


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
