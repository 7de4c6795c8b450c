"""The GPU benchmark cannot rot: its --dry-run runs every part on the CPU, without Ray or vLLM."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# Run the job as a bare GPU machine would: `ray` and `vllm` are not importable there.
BARE = (
    "import runpy, sys; sys.modules['ray'] = None; sys.modules['vllm'] = None; "
    "sys.argv = ['jobs/bench_gpu.py', '--dry-run', '--workdir', sys.argv[1]]; "
    "runpy.run_path('jobs/bench_gpu.py', run_name='__main__')"
)


def test_dry_run_without_ray_prints_every_figure(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", BARE, str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    diff = re.search(r"max \|batched - loop\| = ([0-9.e+-]+)", done.stdout)
    assert diff and float(diff.group(1)) < 1e-4  # both methods compute the same losses
    assert re.match(r"scoring: batched [\d,]+ tokens/s, [\d.]+x the per-sample loop", lines[-4])
    assert re.match(r"training: FSDP2 step, packed, SDPA: [\d,]+ tokens/s", lines[-3])
    assert lines[-2].startswith("flash-attn varlen vs SDPA: skipped")
    assert lines[-1].startswith("wall: ")
    steps = re.findall(r"\[sdpa\] step \d+: (\d+) tokens, .* loss ([\d.]+)", done.stdout)
    assert len(steps) == 3 and all(int(t) > 0 for t, _ in steps)
