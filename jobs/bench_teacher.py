"""Benchmark of the teacher stage against the local server (in its own process) with a fixed latency.

    python jobs/bench_teacher.py [--rows 3000] [--latency 0.2] [--actors 2] [--concurrency 25]

1. Throughput: the real ReflectInstruction stage (Ray Data, actor pool) with N = actors x
   concurrency requests in flight; steady answers/s (5%-95% of finish times, i.e. without the
   one-latency ramp-up and drain) against the bound N / latency (target >= 0.95).
2. Rate limit: the same with teacher.requests_per_minute at a fraction of the bound; the most
   requests the server saw in any 5 s or 10 s window never exceed limit x window (+1).
3. The authors' pattern: batches of 10 requests gathered together, each waiting for its slowest.

With `--backend batch`: the same rows through teacher.backend=online and then batch (the local
server's Batch API, each batch in progress for --batch-latency s), priced as gpt-4o-mini: samples/s
and cost per sample of each. Last line: `batch: cost X of online, wall Y of online`.

Runs locally or on a cluster (`--host 0.0.0.0` so other nodes reach the server on this node).
The client side needs CPU (~2-3 ms per request for the openai client): give the actors cores.
Last line: `throughput: X of bound, speedup: Nx over batches of 10`.
"""

from __future__ import annotations

import argparse

import ray

from recycle.bench import teacher


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rows", type=int, default=3000)
    p.add_argument("--latency", type=float, default=0.2, help="seconds each answer takes")
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=25, help="requests in flight per actor")
    p.add_argument("--actor-cpus", type=float, default=0.25, help="CPUs reserved per teacher actor")
    p.add_argument(
        "--rate-fraction",
        type=float,
        default=0.5,
        help="rate limit phase: limit = fraction x bound",
    )
    p.add_argument("--baseline-rows", type=int, default=300)
    p.add_argument(
        "--backend",
        choices=("online", "batch"),
        default="online",
        help="batch: compare the Batch API with online on the same rows",
    )
    p.add_argument(
        "--batch-latency", type=float, default=5.0, help="seconds a batch is in progress"
    )
    p.add_argument("--batch-poll", type=float, default=1.0, help="teacher.batch_poll_s")
    p.add_argument(
        "--host", default="127.0.0.1", help="0.0.0.0 on a cluster, so other nodes reach the server"
    )
    return p.parse_args()


def main() -> None:
    args = parse_args()
    ray.init(include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    if args.backend == "batch":
        teacher.compare_backends(args)
    else:
        teacher.throughput(args)


if __name__ == "__main__":
    main()
