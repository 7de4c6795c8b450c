"""What losing a worker node costs a stream: the same run on a three-node cluster on this machine
(recycle.testing.multinode), once as is and once with the node running a teacher actor killed
part-way and a new node added (as an autoscaler replaces a spot node). Counted at the scripted
teacher: prompts answered more than once."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from recycle.bench.stats import prepare
from recycle.testing.local_answers import default_answer
from recycle.testing.local_server import LocalTeacherServer
from recycle.testing.multinode import LocalCluster

TEACHER_ACTOR = "Reflect"


class CountingTeacher:
    """The scripted answers, counting each prompt answered (by a hash of its messages)."""

    def __init__(self) -> None:
        self.answered: Counter[str] = Counter()
        self.log: list[tuple[float, str]] = []  # (monotonic time, prompt hash) of each answer
        self.lock = threading.Lock()

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        key = hashlib.sha256(json.dumps(messages).encode()).hexdigest()
        with self.lock:
            self.answered[key] += 1
            self.log.append((time.monotonic(), key))
        return default_answer(messages)

    def total(self) -> int:
        """Answers given so far (a prompt answered twice counts twice)."""
        with self.lock:
            return sum(self.answered.values())

    def paid_twice(self) -> int:
        """Answers beyond the first for the same prompt."""
        with self.lock:
            return sum(n - 1 for n in self.answered.values())


def run_command(data: Path, out: Path | str, student: Path, url: str, *extra: str) -> list[str]:
    """`recycle run` joining the cluster through RAY_ADDRESS (nothing about Ray in it); `extra`
    overrides come last, so they win."""
    return [
        sys.executable, "-m", "recycle", "run", f"data.input='{data}'", f"output.dir='{out}'",
        f"student.model='{student}'", f"teacher.base_url={url}", "teacher.model=local-teacher",
        "teacher.num_actors=1", "teacher.concurrency=4", "student.num_actors=1",
        "student.batch_size=8", "student.max_length=1024", "output.report_stats=false", *extra,
    ]  # fmt: skip


def replace_teacher_node(cluster: LocalCluster) -> int | None:
    """Kill a worker node running a teacher actor and add a new node (as an autoscaler replaces a
    lost spot node); the teacher actors it ran, or None when no worker node runs one now."""
    node = cluster.node_running(TEACHER_ACTOR)
    if node is None:
        return None
    actors = cluster.count_running(node, TEACHER_ACTOR)
    cluster.remove_node(node)
    cluster.add_worker()
    return actors


def timed_run(cluster: LocalCluster, cmd: list[str], lose_after: int | None, teacher: CountingTeacher) -> dict[str, Any]:  # fmt: skip
    """Wall seconds of one run; with `lose_after`, a teacher node is lost after that many answers."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=cluster.driver_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    lost = 0
    while lose_after is not None and not lost and proc.poll() is None:
        if teacher.total() >= lose_after:
            lost = replace_teacher_node(cluster) or 0
        time.sleep(0.05)
    rc = proc.wait()
    return {"wall_s": time.perf_counter() - t0, "rc": rc, "teacher_actors_lost": lost}


def side_by_side(work: Path, rows: int, workers: int) -> dict[str, Any]:
    """The run without and with a node loss, each on a fresh output folder, one cluster."""
    data, student = prepare(work, rows, hidden=64, layers=2)
    result: dict[str, Any] = {"rows": rows}
    with LocalCluster(workers=workers) as cluster:
        for name, lose_after in (("steady", None), ("node_lost", rows // 2)):
            teacher = CountingTeacher()
            with LocalTeacherServer(answer=teacher, latency_s=0.1) as server:
                cmd = run_command(data, work / name, student, server.base_url)
                result[name] = timed_run(cluster, cmd, lose_after, teacher)
            result[name]["prompts"] = len(teacher.answered)
            result[name]["sent_twice"] = teacher.paid_twice()
    return result


def report_lines(result: dict[str, Any]) -> list[str]:
    """A table of both runs; the last line is the ratio and the prompts sent twice."""
    lines = [
        f"{'run':<10} {'wall s':>7} {'exit':>4} {'prompts':>7} {'twice':>5} {'actors lost':>11}"
    ]
    for name in ("steady", "node_lost"):
        r = result[name]
        lines.append(f"{name:<10} {r['wall_s']:>7.1f} {r['rc']:>4} {r['prompts']:>7} {r['sent_twice']:>5} {r['teacher_actors_lost']:>11}")  # fmt: skip
    lost, steady = result["node_lost"], result["steady"]
    share = lost["sent_twice"] / max(1, lost["prompts"])
    lines.append(
        f"nodeloss {result['rows']} rows: wall x{lost['wall_s'] / steady['wall_s']:.2f} "
        f"({steady['wall_s']:.0f} s -> {lost['wall_s']:.0f} s), prompts sent twice "
        f"{lost['sent_twice']} of {lost['prompts']} ({share:.1%}), exit {lost['rc']}"
    )
    return lines
