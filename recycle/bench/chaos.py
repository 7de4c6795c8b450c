"""Chaos: the faults a run survives one by one, all in one run, and what they cost (issue 37).

A selective `recycle run` (the tiny student) of `rows` samples joins a three-node cluster on this
machine (recycle.testing.multinode: a 0-CPU head and two 1-CPU workers on 127.0.0.1), with
`output.dir` and `teacher.cache_dir` on an S3-protocol server (moto, recycle.testing.s3; every node
has its variables). The scripted teacher (recycle.testing.local_server) answers a share of the
requests with a 500 and goes down once (connections refused, open ones dropped) for `outage_s`
after it received a share of the requests; the bench removes the worker node running a teacher
actor and adds a new one (as for a lost spot node), SIGKILLs the driver once (the driver only, the
cluster stays up), and runs the same command again until it exits 0 (at most `max_attempts`
invocations). The same command undisturbed (no fault, no kill, no node loss) runs first on the same
cluster: the wall-time reference, and the reference for the rejects the input itself causes.

What is counted:
- samples lost: input rows the final manifest does not account for as kept, dropped by a rule, or
  rejected for a reason the undisturbed run gave too (what the input itself causes). A transient
  reject (retry/: teacher_unavailable, budget) counts as lost: it has no outcome yet, and only a
  run that ends with exit 0 has none left; one is only left when the attempts ran out.
- prompts paid twice: at the scripted teacher, by a hash of the messages, successful answers only
  (a 500 or a connection dropped before the answer is not paid).
- the manifest's accounting invariant (input = kept + dropped + rejected).
- teacher requests: the manifest's count summed over its recorded invocations against the
  server's own count of requests that arrived. They differ by design in two ways, both printed:
  an attempt refused during the outage counts in the manifest (errors.connection) and never
  arrives; an invocation the manifest does not record (a SIGKILLed driver, unless the run
  directory journals it) sent requests the server counted.
- wall time: from the first invocation's start to the last one's exit, against the undisturbed run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recycle import columns as C
from recycle.bench.nodeloss import CountingTeacher, replace_teacher_node, run_command
from recycle.bench.stats import prepare
from recycle.rundir import read_manifest
from recycle.testing.local_server import OK, SERVER_ERROR, LocalTeacherServer
from recycle.testing.multinode import LocalCluster
from recycle.testing.s3 import environ_set, moto_s3

BUCKET = "runs"
STAGES = 2  # selective mode: the instruction's reflection, then the response's
Poll = Callable[[subprocess.Popen], None]


@dataclass(frozen=True)
class ChaosPlan:
    """What goes wrong, and when (shares of the run's `STAGES * rows` prompts)."""

    rows: int = 1000
    error_rate: float = 0.10  # requests answered 500, drawn per request
    outage_s: float = 30.0
    outage_at: float = 0.6  # the server goes down once it received this share (500s included)
    lose_at: float = 0.25  # the teacher's node is lost once this share is answered
    kill_at: float = 0.4  # the driver is SIGKILLed once this share is answered
    max_attempts: int = 6  # invocations of the command, the killed one included
    attempt_timeout_s: float = 3600.0
    latency_s: float = 0.1  # each answer of the scripted teacher
    seed: int = 0

    @property
    def prompts(self) -> int:
        return STAGES * self.rows


def s3_command(data: Path, student: Path, url: str, name: str, extra: tuple[str, ...]) -> list[str]:
    """The run's command, its output and teacher cache on the S3 server under `name`."""
    out = f"s3://{BUCKET}/{name}"
    return run_command(data, out, student, url, f"teacher.cache_dir='{out}-cache'", *extra)


@dataclass
class Disturbance:
    """The node loss and the driver's kill, each done once, whichever invocation reaches it."""

    plan: ChaosPlan
    cluster: LocalCluster
    teacher: CountingTeacher
    lost_actors: int | None = None  # teacher actors the removed node ran; None: not removed yet
    lost_at: int | None = None  # answers when the node was removed
    lost_when: float | None = None  # and the monotonic time
    killed_at: int | None = None  # answers when the driver was killed
    killed_when: float | None = None  # and the monotonic time

    def step(self, proc: subprocess.Popen) -> None:
        answered = self.teacher.total()
        if self.lost_actors is None and answered >= self.plan.lose_at * self.plan.prompts:
            when = time.monotonic()  # before: the lost actors may restart on the other node
            self.lost_actors = replace_teacher_node(self.cluster)  # None: no teacher node yet
            if self.lost_actors is not None:
                self.lost_at, self.lost_when = answered, when
        due = answered >= self.plan.kill_at * self.plan.prompts
        if self.killed_at is None and due and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # the driver alone: its own session, not the cluster
            self.killed_at, self.killed_when = answered, time.monotonic()


def invoke(cluster: LocalCluster, cmd: list[str], log: Path, timeout_s: float, on_poll: Poll | None = None) -> dict[str, Any]:  # fmt: skip
    """One invocation of `cmd` as a driver joining the cluster; `on_poll(proc)` every 50 ms."""
    began = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, env=cluster.driver_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            while proc.poll() is None and time.monotonic() - began < timeout_s:
                if on_poll is not None:
                    on_poll(proc)
                time.sleep(0.05)
        finally:
            timed_out = proc.poll() is None
            if timed_out:
                proc.kill()
            rc = proc.wait()
    return {"rc": 124 if timed_out else rc, "began": began, "ended": time.monotonic(), "log": str(log)}  # fmt: skip


def manifest_summary(run_dir: str) -> dict[str, Any] | None:
    """What the bench reads of a run's manifest; None when no invocation wrote one."""
    try:
        manifest = read_manifest(run_dir)
    except FileNotFoundError:
        return None
    invocations = [i.get("teacher") or {} for i in manifest.get("invocations", [])]
    return {
        "counts": manifest["counts"],
        "invariant_ok": bool(manifest["invariant"]["ok"]),
        "requests": sum(int(t.get("requests", 0)) for t in invocations),
        "unsettled": sum(int(t.get("unsettled", 0)) for t in invocations),
        "not_sent": sum(int(t.get("not_sent", 0)) for t in invocations),
        "errors": manifest.get("teacher", {}).get("errors", {}),
        "invocations": [
            {
                "status": i.get("status"),
                "requests": int((i.get("teacher") or {}).get("requests", 0)),
            }
            for i in manifest.get("invocations", [])
        ],  # fmt: skip
    }


def undisturbed_run(cluster: LocalCluster, data: Path, student: Path, work: Path, plan: ChaosPlan, extra: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """The same command with nothing going wrong: no faults, no outage, no kill, no node loss."""
    teacher = CountingTeacher()
    with LocalTeacherServer(answer=teacher, latency_s=plan.latency_s) as server:
        cmd = s3_command(data, student, server.base_url, "undisturbed", extra)
        run = invoke(cluster, cmd, work / "undisturbed.log", plan.attempt_timeout_s)
        requests = server.stats.requests
    return {
        "rc": run["rc"], "wall_s": run["ended"] - run["began"], "prompts": len(teacher.answered),
        "paid_twice": teacher.paid_twice(), "server_requests": requests,
        "manifest": manifest_summary(f"s3://{BUCKET}/undisturbed"),
    }  # fmt: skip


def chaos_run(cluster: LocalCluster, data: Path, student: Path, work: Path, plan: ChaosPlan, extra: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """The run with everything going wrong, invoked again until it exits 0 (or attempts run out)."""
    teacher = CountingTeacher()
    faults = {SERVER_ERROR: plan.error_rate} if plan.error_rate else {}
    with LocalTeacherServer(
        answer=teacher, latency_s=plan.latency_s, faults=faults, seed=plan.seed
    ) as server:
        outage = server.outage(plan.outage_s, after_requests=int(plan.outage_at * plan.prompts))
        cmd = s3_command(data, student, server.base_url, "chaos", extra)
        disturb = Disturbance(plan, cluster, teacher)
        attempts: list[dict[str, Any]] = []
        while len(attempts) < plan.max_attempts and (not attempts or attempts[-1]["rc"] != 0):
            before = server.stats.requests
            log = work / f"chaos_{len(attempts) + 1}.log"
            attempts.append(invoke(cluster, cmd, log, plan.attempt_timeout_s, disturb.step))
            attempts[-1]["requests"] = server.stats.requests - before
        outage_began, outage_ended = outage.began, outage.ended
        server_requests, by_kind = server.stats.requests, dict(server.stats.by_kind)
    events = {"node": disturb.lost_when, "kill": disturb.killed_when, "outage": outage_began}
    return {
        "attempts": attempts, "wall_s": attempts[-1]["ended"] - attempts[0]["began"],
        "rc": attempts[-1]["rc"], "prompts": len(teacher.answered), "answers": teacher.total(),
        "paid_twice": teacher.paid_twice(), "lost_actors": disturb.lost_actors,
        "dropped_at_outage": max(0, by_kind.get(OK, 0) - teacher.total()),
        "paid_twice_by_event": paid_twice_by_event(teacher.log, events), "events": events,
        "answer_log": teacher.log,
        "lost_at": disturb.lost_at, "killed_at": disturb.killed_at,
        "killed_when": disturb.killed_when,
        "outage_attempt": _attempt_at(attempts, outage_began),
        "outage_s": None if outage_began is None or outage_ended is None else outage_ended - outage_began,  # fmt: skip
        "server_requests": server_requests, "server_by_kind": by_kind,
        "manifest": manifest_summary(f"s3://{BUCKET}/chaos"),
    }  # fmt: skip


def paid_twice_by_event(log: list[tuple[float, str]], events: dict[str, float | None], in_flight_s: float = 2.0) -> dict[str, int]:  # fmt: skip
    """Each answer paid again, put down to the fault that lost the previous answer of its prompt:
    the first event after it, or up to `in_flight_s` before it (a request in flight when its
    client died is still answered), and before this answer; "none" when no event fits."""
    out: dict[str, int] = {}
    previous: dict[str, float] = {}
    for when, key in sorted(log):
        if key in previous:
            fits = [(t, name) for name, t in events.items() if t is not None and previous[key] - in_flight_s <= t <= when]  # fmt: skip
            cause = min(fits)[1] if fits else "none"
            out[cause] = out.get(cause, 0) + 1
        previous[key] = when
    return out


def _attempt_at(attempts: list[dict[str, Any]], when: float | None) -> int | None:
    """The invocation (1-based) running at monotonic time `when`; 0 between two; None: never."""
    if when is None:
        return None
    return next((i for i, a in enumerate(attempts, 1) if a["began"] <= when <= a["ended"]), 0)


def input_rejects(counts: dict[str, Any]) -> dict[str, int]:
    """An undisturbed run's rejects for a final reason: what the input itself causes."""
    rejected = counts.get("rejected", {})
    return {r: int(n) for r, n in rejected.items() if r not in C.TRANSIENT_REASONS}


def samples_lost(counts: dict[str, Any], rows: int, allowed: dict[str, int]) -> int:
    """Input rows without an outcome, plus rows rejected beyond what the input causes (`allowed`,
    by reason); a transient reject is never allowed (see the module doc)."""
    rejected = {r: int(n) for r, n in counts.get("rejected", {}).items()}
    beyond = sum(max(0, n - allowed.get(r, 0)) for r, n in rejected.items())
    accounted = int(counts.get("kept", 0)) + sum(counts.get("dropped", {}).values()) + sum(rejected.values())  # fmt: skip
    return max(0, rows - accounted) + beyond


def side_by_side(work: Path, plan: ChaosPlan, workers: int = 2, extra: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """The undisturbed run, then the chaos run, on one cluster whose nodes reach the S3 server."""
    data, student = prepare(work, plan.rows, hidden=64, layers=2)
    with (
        moto_s3(BUCKET) as env,
        environ_set(env),  # before the nodes start: their workers inherit it
        LocalCluster(workers=workers, cpus_per_worker=1) as cluster,
    ):
        undisturbed = undisturbed_run(cluster, data, student, work, plan, extra)
        chaos = chaos_run(cluster, data, student, work, plan, extra)
    return {"plan": plan, "undisturbed": undisturbed, "chaos": chaos}


def write_result(result: dict[str, Any], path: Path) -> None:
    """The whole result as JSON (arrival times and answer log included), for a closer look."""
    path.write_text(json.dumps({**result, "plan": asdict(result["plan"])}, default=str))


def report_lines(result: dict[str, Any]) -> list[str]:
    """Each invocation, the faults as they happened, the counts; the last line is the verdict."""
    ref = result["undisturbed"]
    lines = [f"{'run':<12} {'wall s':>7} {'exit':>5} {'server requests':>15}"]
    lines.append(f"{'undisturbed':<12} {ref['wall_s']:>7.1f} {ref['rc']:>5} {ref['server_requests']:>15}")  # fmt: skip
    return [*lines, *chaos_lines(result["plan"], result["chaos"]), verdict(result)]


def chaos_lines(plan: ChaosPlan, run: dict[str, Any]) -> list[str]:
    """The chaos run's invocations, its faults as they happened, the server's and manifest's counts."""
    lines = [
        f"{f'chaos #{i}':<12} {a['ended'] - a['began']:>7.1f} {a['rc']:>5} {a['requests']:>15}"
        for i, a in enumerate(run["attempts"], 1)
    ]
    lines.append(
        f"faults: {plan.error_rate:.0%} of requests answered 500; node with "
        f"{run['lost_actors']} teacher actor(s) lost at {run['lost_at']} answers; driver "
        f"SIGKILLed at {run['killed_at']} answers; outage of {_seconds(run['outage_s'])} in "
        f"invocation {run['outage_attempt']}"
    )
    lines.append(f"server: {run['server_requests']} requests, by kind {run['server_by_kind']}")
    lines.append(
        f"paid twice, by the fault that lost the first answer: {run['paid_twice_by_event']}"
    )
    m = run["manifest"]
    if m is not None:
        lines.append(
            f"manifest: counts {m['counts']}; invocations (status, requests) "
            f"{[(i['status'], i['requests']) for i in m['invocations']]};"
            f" errors {m['errors']}; unsettled {m['unsettled']}"
        )
    return lines


def verdict(result: dict[str, Any]) -> str:
    """The last line: samples lost, prompts paid twice, the invariant, the request counts, wall."""
    plan, ref, run = result["plan"], result["undisturbed"], result["chaos"]
    m, ref_m = run["manifest"], ref["manifest"]
    allowed = input_rejects(ref_m["counts"]) if ref_m else {}
    lost = samples_lost(m["counts"], plan.rows, allowed) if m else plan.rows
    invariant = "ok" if m and m["invariant_ok"] and m["counts"]["input"] == plan.rows else "BROKEN"
    ledger = m["requests"] if m else 0
    server = run["server_requests"]
    share = run["paid_twice"] / max(1, run["prompts"])
    return (
        f"chaos {plan.rows} rows: samples lost {lost}, prompts paid twice {run['paid_twice']} of "
        f"{run['prompts']} ({share:.2%}), manifest invariant {invariant}, teacher requests "
        f"ledger {ledger} vs server {server} ({ledger - server:+d}; {_count_gaps(run)}), "
        f"wall {run['wall_s']:.0f} s vs undisturbed {ref['wall_s']:.0f} s "
        f"(x{run['wall_s'] / ref['wall_s']:.2f}), {len(run['attempts'])} invocations, "
        f"exit {run['rc']}"
    )


def _count_gaps(run: dict[str, Any]) -> str:
    """What the manifest counts apart: connections refused (never sent, not in its requests) and
    requests never settled (in its requests as they left; some may not have arrived: a lost
    node's, those the killed driver had let go)."""
    m = run["manifest"]
    if m is None:
        return "no manifest"
    return (
        f"{m['not_sent']} refused in the outage, not counted; {m['unsettled']} unsettled, counted"
    )


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:.0f} s"
