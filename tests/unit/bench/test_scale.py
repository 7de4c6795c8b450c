"""The scale benchmark's arithmetic: marginal cost per row, its ratio, the driver's memory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from recycle.bench.scale import ARENAS, RESTARTED, Measure, marginal_ms, report_lines

PROBE = """
import os, subprocess, sys
from recycle.bench.scale import with_capped_arenas
with_capped_arenas()
at_start = open("/proc/self/environ", "rb").read().split(b"\\0")
child = subprocess.run(
    [sys.executable, "-c", "import os; print(os.environ.get('MALLOC_ARENA_MAX'))"],
    capture_output=True, text=True, check=True,
).stdout.strip()
print([e.decode() for e in at_start if e.startswith(b"MALLOC_ARENA_MAX=")], os.environ.get("MALLOC_ARENA_MAX"), child)
"""


def measures() -> list[Measure]:
    return [
        Measure(1000, "stream", 60.0, 700.0, 650.0, {"kept": 70}, (40.0, 37.0)),
        Measure(4000, "stream", 160.0, 760.0, 700.0, {"kept": 299}),
        Measure(16000, "stream", 664.0, 795.0, 745.0, {"kept": 1239}),
    ]


def test_marginal_cost_takes_out_the_fixed_cost():
    assert marginal_ms(measures(), "stream") == [(4000, 100 / 3), (16000, 42.0)]


def test_the_last_line_gives_the_ratio_and_both_memory_figures():
    lines = report_lines(measures())
    assert lines[0] == (
        "       stream    1000 rows:    60.0 s wall,  60.00 ms/row, driver peak    700 MB"
        " (+50 over its start), kept 70, ETA at half way 40 s, took 37 s"
    )
    assert lines[-1] == (
        "marginal cost per row, 4000->16000 over 1000->4000 rows: stream 1.26x;"
        " driver peak MB 1000: 700, 4000: 760, 16000: 795 (growth +14%);"
        " added within a step, MB 1000: 50, 4000: 60, 16000: 50"
    )


@pytest.mark.parametrize(
    ("users", "expected"),
    [
        # capped from the start of the (restarted) process, not passed on to its children
        (None, ["driver: MALLOC_ARENA_MAX=2 from its start; Ray's processes: glibc's default",
                "['MALLOC_ARENA_MAX=2'] None None"]),
        # a cap the user set stands, for every process: no restart
        ("4", ["['MALLOC_ARENA_MAX=4'] 4 4"]),
    ],
)  # fmt: skip
def test_the_benchmark_caps_its_own_arenas_from_its_start(tmp_path, users, expected):
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(PROBE))
    env = {k: v for k, v in os.environ.items() if k not in (ARENAS, RESTARTED)}
    if users:
        env[ARENAS] = users
    out = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == expected
