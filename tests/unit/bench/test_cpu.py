"""CPU seconds per process role (recycle.bench.cpu), read from /proc."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recycle.bench.cpu import CpuByProcess, role

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass\n"


def test_roles_of_ray_titles_and_executables():
    assert role("ray::MapWorker(MapBatches(StudentScorer))") == "MapBatches(StudentScorer)"
    assert role("ray::IDLE") == "IDLE"
    assert role("/usr/bin/python3") == "python3"


def test_a_child_burning_one_cpu_second_is_counted(tmp_path):
    script = tmp_path / "burn_cpu.py"
    script.write_text(BURN)
    with CpuByProcess(every_s=0.1) as cpu:
        # argv[0] "cpu-burner" is the child's title, so its role is its own
        subprocess.run(["cpu-burner", str(script)], executable=sys.executable, check=True)
    # the child is sampled until its last 0.1 s, so at least ~0.8 s of its 1 s shows
    assert 0.7 <= cpu.by_role["cpu-burner"] <= 1.5
    assert cpu.lines()[0].endswith("CPU in all")
