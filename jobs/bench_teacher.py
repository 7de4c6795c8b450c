"""Benchmark of the teacher stage against the local server with a fixed latency.

    python jobs/bench_teacher.py [--rows 3000] [--latency 0.2] [--actors 2] [--concurrency 25]

1. Throughput: the real ReflectInstruction stage (Ray Data, actor pool) with N = actors x
   concurrency requests in flight; achieved answers/s against the bound N / latency (target >= 0.95).
2. Rate limit: the same with teacher.requests_per_minute at a fraction of the bound; the most
   requests seen in any window never exceed what the limit allows (rate x window + burst).
3. The authors' pattern: batches of 10 requests gathered together, each waiting for its slowest.

Runs locally or on a cluster (`--host 0.0.0.0` so other nodes reach the server on this node).
Last line: `throughput: X of bound, speedup: Nx over batches of 10`.
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
from recycle.teacher.local_server import LocalTeacherServer
from recycle.teacher.stages import reflect_instruction
from recycle.teacher.tasks import InstructionTask


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
    server: LocalTeacherServer,
    base_url: str,
    args: argparse.Namespace,
    rows: int,
    rpm: float | None,
) -> float:
    """Run ReflectInstruction over `rows` samples; return the server-side answers/s."""
    cfg = TeacherConfig(
        base_url=base_url,
        model=server.model,
        num_actors=args.actors,
        concurrency=args.concurrency,
        cache=False,
        requests_per_minute=rpm,
        timeout_s=30,
    )
    gate_name = f"bench-{uuid.uuid4().hex[:8]}"
    gate = job_gate_actor(gate_name, GateSettings.from_config(cfg))
    server.reset_stats()
    ds = ray.data.from_items(
        synthetic_rows(rows), override_num_blocks=max(4, rows // cfg.rows_per_batch())
    )
    out = reflect_instruction(ds, cfg, gate_name, cache_dir=None).materialize()
    assert out.count() == rows, "rows lost"
    ray.kill(gate)
    return server.stats.throughput()


async def batches_of_ten(base_url: str, model: str, rows: int) -> None:
    """The authors' pattern: gather 10 requests, wait for all, then the next 10."""
    cfg = TeacherConfig(base_url=base_url, model=model, cache=False, concurrency=10, timeout_s=30)
    client = TeacherClient(cfg, LocalGate(GateSettings.from_config(cfg)), cache=None)
    task, samples = InstructionTask(), synthetic_rows(rows)
    for start in range(0, rows, 10):
        requests = [task.request(r, cfg) for r in samples[start : start + 10]]
        await asyncio.gather(*(client.complete(q.prompt, q.max_tokens) for q in requests))
    await client.aclose()


def rate_check(server: LocalTeacherServer, limit: float, burst_s: float = 1.0) -> str:
    """Whether arrivals kept to the token bucket's promise: at most limit x W + burst in any W seconds."""
    parts, ok = [], True
    for window in (1.0, 5.0):
        worst, allowed = server.stats.max_in_window(window), limit * (window + burst_s)
        ok &= worst <= allowed
        parts.append(f"most in {window:.0f}s: {worst} (allowed {allowed:.0f})")
    return ", ".join(parts) + (": within the limit" if ok else ": LIMIT EXCEEDED")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rows", type=int, default=3000)
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=25)
    p.add_argument(
        "--rate-fraction",
        type=float,
        default=0.5,
        help="rate limit phase: limit = fraction x bound",
    )
    p.add_argument("--baseline-rows", type=int, default=300)
    p.add_argument("--host", default="127.0.0.1")
    args = p.parse_args()
    ray.init(include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    n = args.actors * args.concurrency
    bound = n / args.latency
    with LocalTeacherServer(latency_s=args.latency, host=args.host) as server:
        base_url = (
            server.url_for(ray.util.get_node_ip_address())
            if args.host == "0.0.0.0"
            else server.base_url
        )
        t0 = time.perf_counter()
        achieved = run_stage(server, base_url, args, args.rows, None)
        print(
            f"pipeline: {args.rows} rows, N={n} in flight, latency {args.latency}s: {achieved:.1f} answers/s, bound {bound:.1f}/s ({time.perf_counter() - t0:.1f}s wall)"
        )
        limit = args.rate_fraction * bound
        limited = run_stage(server, base_url, args, int(limit * 8), limit * 60)
        print(
            f"rate limit {limit:.1f}/s (burst 1 s): achieved {limited:.1f}/s; {rate_check(server, limit)}"
        )
        server.reset_stats()
        asyncio.run(batches_of_ten(server.base_url, server.model, args.baseline_rows))
        baseline = server.stats.throughput()
        print(
            f"authors' batches of 10: {args.baseline_rows} rows: {baseline:.1f} answers/s (bound {10 / args.latency:.1f}/s)"
        )
    print(
        f"throughput: {achieved / bound:.2f} of bound, speedup: {achieved / baseline:.1f}x over batches of 10"
    )


if __name__ == "__main__":
    main()
