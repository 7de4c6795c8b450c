"""The GPU benchmark: batched IFD / r-IFD scoring vs the authors' loop, one FSDP2 training step,
flash-attn vs SDPA, on a random-init Llama-2-7B shape (see recycle/bench/gpu.py).

Runs on a bare GPU machine with PyTorch and transformers (no Ray, no vLLM), from the repo root;
`jobs/gpu_check.py` runs it too, after its correctness checks:

    python jobs/prepare_gpu_check.py       # here, once: gpu_check_bundle/ (wheels for Python 3.12)
    pip install --no-index --no-deps gpu_check_bundle/wheels/*.whl && python jobs/bench_gpu.py
    python jobs/bench_gpu.py --dry-run     # anywhere: tiny shapes on the CPU (CI)

Whole run under ~8 minutes on one H100; the figures are the last lines.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is built locally: never ask the hub
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `recycle` from this checkout

from recycle.bench.gpu import make_plan, run  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU")
    p.add_argument("--workdir", default="/tmp/recycle_bench_gpu", help="tokenizer cache")
    p.add_argument("--steps", type=int, default=4, help="timed training steps")
    p.add_argument("--score-rows", type=int, default=64, help="Alpaca rows scored by both")
    args = p.parse_args()
    for line in run(make_plan(args.dry_run, args.workdir, args.steps, args.score_rows)):
        print(line, flush=True)


if __name__ == "__main__":
    main()
