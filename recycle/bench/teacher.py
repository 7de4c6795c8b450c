"""The teacher stage against the local server: throughput vs the latency bound, the rate limit,
the authors' batches of 10, and the Batch API against online (jobs/bench_teacher.py runs it).

The server runs in its own process (recycle.testing.server_process), as a real endpoint would, so
the driver's threads do not slow it down.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import ray

from recycle import columns as C
from recycle.config.teacher import TeacherConfig
from recycle.teacher.client import TeacherClient
from recycle.teacher.gate import GateSettings, LocalGate, job_gate_actor
from recycle.teacher.stages import reflect_instruction
from recycle.teacher.tasks import InstructionTask
from recycle.testing.server_process import ServerProcess
from recycle.testing.server_stats import ServerStats


def synthetic_rows(n: int) -> list[dict]:
    """Normalized samples with distinct content (no cache is used, but keep them realistic)."""
    return [
        {
            C.SAMPLE_ID: f"bench-{i}",
            C.INSTRUCTION: f"Explain topic number {i} to a beginner.",
            C.INPUT: "",
            C.OUTPUT: f"Topic {i} is about the basics; here is a short explanation of it.",
            C.SOURCE: f"bench:{i}",
            C.RAW: "{}",
            C.OUTCOME: C.OUTCOME_KEPT,
            C.REASON: "",
            C.DETAIL: "",
            C.STAGE: "",
        }
        for i in range(n)
    ]


def run_stage(
    server: ServerProcess,
    base_url: str,
    args: argparse.Namespace,
    rows: int,
    rpm: float | None,
    **teacher: object,
) -> ServerStats:
    """Run ReflectInstruction over `rows` samples; return what the server saw."""
    return run_with_totals(server, base_url, args, rows, rpm, **teacher)[0]


def run_with_totals(
    server: ServerProcess,
    base_url: str,
    args: argparse.Namespace,
    rows: int,
    rpm: float | None,
    **teacher: object,
) -> tuple[ServerStats, dict]:
    """Run ReflectInstruction over `rows` samples; what the server saw and the gate's totals."""
    cfg = TeacherConfig(
        base_url=base_url,
        model=server.model,
        num_actors=args.actors,
        concurrency=args.concurrency,
        actor_num_cpus=args.actor_cpus,
        cache=False,
        requests_per_minute=rpm,
        timeout_s=30,
        **teacher,
    )
    gate_name = f"bench-{uuid.uuid4().hex[:8]}"
    gate = job_gate_actor(gate_name, GateSettings.from_config(cfg))
    server.reset_stats()
    ds = ray.data.from_items(
        synthetic_rows(rows), override_num_blocks=max(4, rows // cfg.rows_per_batch())
    )
    out = reflect_instruction(ds, cfg, gate_name, cache_dir=None).materialize()
    assert out.count() == rows, "rows lost"
    totals = ray.get(gate.totals.remote())
    ray.kill(gate)
    return server.stats, totals


def compare_backends(args: argparse.Namespace) -> None:
    """The same rows online, then through the Batch API; samples/s and cost per sample of each."""
    walls, costs = {}, {}
    with ServerProcess(
        latency_s=args.latency, model="gpt-4o-mini", batch_latency_s=args.batch_latency
    ) as server:
        for backend in ("online", "batch"):
            extra = {"backend": backend, "batch_poll_s": args.batch_poll, "batch_linger_s": 0.5}
            start = time.perf_counter()
            _, totals = run_with_totals(server, server.base_url, args, args.rows, None, **extra)
            walls[backend], costs[backend] = time.perf_counter() - start, totals["cost_usd"]
            print(
                f"{backend}: {args.rows} rows in {walls[backend]:.1f} s "
                f"({args.rows / walls[backend]:.1f} samples/s), "
                f"${costs[backend] / args.rows:.7f} per sample, {totals['requests']} requests, "
                f"batches {totals.get('batches', {}).get('done', 0)}"
            )
    print(
        f"batch: cost {costs['batch'] / costs['online']:.2f} of online, "
        f"wall {walls['batch'] / walls['online']:.2f} of online"
    )


async def batches_of_ten(base_url: str, model: str, rows: int) -> None:
    """The authors' pattern: gather 10 requests, wait for all, then the next 10."""
    cfg = TeacherConfig(base_url=base_url, model=model, cache=False, concurrency=10, timeout_s=30)
    client = TeacherClient(cfg, LocalGate(GateSettings.from_config(cfg)), cache=None)
    task, samples = InstructionTask(), synthetic_rows(rows)
    for start in range(0, rows, 10):
        requests = [task.request(r, cfg) for r in samples[start : start + 10]]
        await asyncio.gather(*(client.complete(q.prompt, q.max_tokens) for q in requests))
    await client.aclose()


def rate_check(stats: ServerStats, limit: float) -> str:
    """Whether arrivals kept under the limit in every window of 5 s and 10 s (1 s shown for information)."""
    worst = {w: stats.max_in_window(w) for w in (1.0, 5.0, 10.0)}
    ok = all(worst[w] <= limit * w + 1 for w in (5.0, 10.0))
    windows = ", ".join(f"{w:.0f}s: {n} (limit {limit * w + 1:.0f})" for w, n in worst.items())
    return f"most in any window of {windows}: {'never exceeded' if ok else 'EXCEEDED'} over 5 s and 10 s"


def throughput(args: argparse.Namespace) -> None:
    """Phases 1 to 3 of the job: steady throughput, the rate limit, the authors' batches of 10."""
    n = args.actors * args.concurrency
    bound = n / args.latency
    with ServerProcess(
        latency_s=args.latency, host=args.host
    ) as server:  # own process, like a real endpoint
        url = (
            server.url_for(ray.util.get_node_ip_address())
            if args.host == "0.0.0.0"
            else server.base_url
        )
        stats = run_stage(server, url, args, args.rows, None)
        achieved = stats.steady_throughput()
        print(
            f"pipeline: {args.rows} rows, N={n} in flight, latency {args.latency}s: {achieved:.1f}/s steady "
            f"({stats.throughput():.1f}/s with ramp-up and drain), bound {bound:.1f}/s; "
            f"the server held {stats.mean_in_flight():.1f} requests on average"
        )
        limit = args.rate_fraction * bound
        stats = run_stage(server, url, args, int(limit * 15), limit * 60)
        print(
            f"rate limit {limit:.1f}/s: achieved {stats.throughput():.1f}/s; {rate_check(stats, limit)}"
        )
        server.reset_stats()
        asyncio.run(batches_of_ten(server.base_url, server.model, args.baseline_rows))
        baseline = server.stats.steady_throughput()
        print(f"authors' batches of 10: {baseline:.1f}/s (bound {10 / args.latency:.1f}/s)")
    print(
        f"throughput: {achieved / bound:.2f} of bound, speedup: {achieved / baseline:.1f}x over batches of 10"
    )
