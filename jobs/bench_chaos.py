"""Benchmark: everything going wrong at once. A selective run of 1,000 rows on a three-node cluster
on this machine, outputs and teacher cache on a local S3 server (moto), the scripted teacher
answering 10% of requests with a 500 and down once for 30 s, the node running a teacher actor
lost and replaced, the driver SIGKILLed once and the same command rerun until it exits 0; the
same command undisturbed first, on the same cluster.

    python jobs/bench_chaos.py --rows 1000
Last line: samples lost (goal 0), prompts paid twice (goal <= 1%), the manifest invariant, the
manifest's teacher requests against the server's count, wall time against the undisturbed run.
Logic in recycle/bench/chaos.py.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from recycle.bench.chaos import ChaosPlan, report_lines, side_by_side, write_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2, help="worker nodes (1 CPU each)")
    ap.add_argument("--error-rate", type=float, default=0.10, help="requests answered 500")
    ap.add_argument("--outage-s", type=float, default=30.0)
    ap.add_argument("--max-attempts", type=int, default=6, help="invocations, the killed one included")  # fmt: skip
    ap.add_argument("--work", type=Path, default=None, help="folder for data, model and logs")
    args = ap.parse_args()
    # stopped with SIGTERM (a background run ignores SIGINT): exit through the context managers,
    # so that the cluster's nodes and the S3 server are shut down
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_chaos_"))
    work.mkdir(parents=True, exist_ok=True)
    plan = ChaosPlan(
        rows=args.rows, error_rate=args.error_rate, outage_s=args.outage_s,
        max_attempts=args.max_attempts,
    )  # fmt: skip
    print(f"work folder: {work}", flush=True)
    result = side_by_side(work, plan, args.workers)
    write_result(result, work / "result.json")
    print("\n".join(report_lines(result)))


if __name__ == "__main__":
    main()
