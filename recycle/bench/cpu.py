"""Where a benchmark's CPU time goes: CPU seconds per process role, read from Linux /proc.

A background thread samples every process's user + system time while a block runs; processes
are grouped by title (Ray names its workers `ray::MapWorker(MapBatches(StudentScorer))`,
`ray::IDLE`, ...). CPU spent before the block by processes alive at its start is not counted, and
a process that starts and ends between two samples is missed, so the figures are a lower bound.
On a machine without /proc, `CpuByProcess` records nothing.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu() -> dict[tuple[int, int], tuple[float, str]]:
    """(pid, start time) -> (CPU seconds so far, role) of every process readable now; the start
    time tells a process from an earlier one that had its pid."""
    out: dict[tuple[int, int], tuple[float, str]] = {}
    for entry in PROC.glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
            cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
            key = (int(entry.name), int(fields[19]))  # starttime
        except (OSError, IndexError, ValueError):  # it ended while being read: next sample
            continue
        out[key] = (cpu, role(title))
    return out


def role(title: str) -> str:
    """A short role for a process title: the Ray actor's or task's name, else the executable."""
    if title.startswith("ray::"):
        return title.removeprefix("ray::").removeprefix("MapWorker(").removesuffix(")")
    return Path(title).name or "?"


class CpuByProcess:
    """Context manager: CPU seconds per role used while the block ran (see module doc)."""

    def __init__(self, every_s: float = 0.5):
        self.every_s = every_s
        self.by_role: Counter[str] = Counter()
        self.by_pid: dict[int, tuple[str, float]] = {}  # pid -> (role, CPU seconds) while it ran
        self._first: dict[tuple[int, int], float] = {}
        self._last: dict[tuple[int, int], tuple[float, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self, first: bool = False) -> None:
        for proc, (cpu, name) in process_cpu().items():
            self._first.setdefault(proc, cpu if first else 0.0)
            if name == "?" and proc in self._last:  # an exiting process has no cmdline any more
                name = self._last[proc][1]
            self._last[proc] = (cpu, name)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def __enter__(self) -> CpuByProcess:
        if PROC.is_dir():
            self._sample(first=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._thread.ident:  # no /proc: nothing was sampled
            return
        self._stop.set()
        self._thread.join()
        self._sample()
        for proc, (cpu, name) in self._last.items():
            if cpu > self._first[proc]:
                self.by_role[name] += cpu - self._first[proc]
                self.by_pid[proc[0]] = (name, cpu - self._first[proc])

    def lines(self, top: int = 8) -> list[str]:
        """`  NN.Ns role` for the largest roles and the total."""
        total = sum(self.by_role.values())
        rows = [f"  {s:6.1f}s {name}" for name, s in self.by_role.most_common(top)]
        return [f"  {total:6.1f}s CPU in all", *rows]
