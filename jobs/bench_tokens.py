"""Benchmark: student forward tokens per sample of a real selective run, against the authors'.

    python jobs/bench_tokens.py --rows 80
Runs `selective` (statistics on) with the local teacher and a tiny student, then counts the
forward tokens of each phase on the run's rows. Last line:
`forward tokens/sample: N (authors: M, ratio R)`. Logic in recycle/bench/tokens.py.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import ray

from recycle.bench.stats import COMMON, prepare, timed_run
from recycle.bench.tokens import run_token_lines
from recycle.config import load_config
from recycle.ray_utils import local_system_config
from recycle.testing.local_server import LocalTeacherServer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=80)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_tokens_"))
    data, student = prepare(work, args.rows)
    ray.init(num_cpus=2, include_dashboard=False, _system_config=local_system_config())
    ray.data.DataContext.get_current().enable_progress_bars = False
    with LocalTeacherServer() as server:
        overrides = [
            *COMMON, f"data.input='{data}'", f"student.model='{student}'",
            f"teacher.base_url={server.base_url}", f"output.dir='{work / 'run'}'",
        ]  # fmt: skip
        timed_run(overrides)
    ray.shutdown()
    student_cfg = load_config(None, overrides).student
    print("\n".join(run_token_lines(str(work / "run"), student_cfg)))


if __name__ == "__main__":
    main()
