"""CPU seconds per process role (recycle.bench.cpu), read from /proc."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from recycle.bench.cpu import CpuByProcess, role

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

# burns 1 CPU-second, then stays alive 0.5 s so that a sample sees all of it
BURN = (
    "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass\n"
    "time.sleep(0.5)\n"
)


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
    assert 0.7 <= cpu.by_role["cpu-burner"] <= 1.5, dict(cpu.by_role)
    assert cpu.lines()[0].endswith("CPU in all")


def test_a_child_keeps_its_role_while_it_is_an_unreaped_zombie(tmp_path):
    script = tmp_path / "burn_cpu.py"
    script.write_text(BURN.replace("time.sleep(0.5)", "pass"))
    with CpuByProcess(every_s=0.1) as cpu:
        child = subprocess.Popen(["cpu-burner", str(script)], executable=sys.executable)
        while Path(f"/proc/{child.pid}/cmdline").read_bytes():  # running: has a title
            time.sleep(0.05)
        time.sleep(0.3)  # exited, not reaped: its cmdline is empty now, a few samples see that
        assert child.wait() == 0
    # only the child this test started is looked at: other processes of the machine (an earlier
    # test's Ray workers, still exiting) may well show as "?"
    name, seconds = cpu.by_pid[child.pid]
    assert name == "cpu-burner" and 0.7 <= seconds <= 1.5, cpu.by_pid[child.pid]
