"""The GPU check: scoring, FSDP2 training, checkpoint, export, generation and bench_gpu on one GPU.

For a bare GPU machine with Python 3.12, PyTorch and transformers (no Ray, no vLLM, no model hub);
see recycle/bench/gpu_check.py for what each check compares and why its tolerance. From the repo
root, after `python jobs/prepare_gpu_check.py` here (writes gpu_check_bundle/, gitignored):

    pip install --no-index --no-deps gpu_check_bundle/wheels/*.whl && python jobs/gpu_check.py

    python jobs/gpu_check.py --dry-run      # anywhere: tiny fp32 model on the CPU (CI)

Meant to finish within 8 minutes on one H100 (its `wall` check says whether it did; not yet run
on a GPU). The last line is one JSON summary; exit 0 when every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is built locally: never ask the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `recycle` from this checkout

from recycle.bench.gpu_check import make_check_plan, run_checks  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dry-run", action="store_true", help="tiny fp32 model and shapes on the CPU")
    p.add_argument("--workdir", default="/tmp/recycle_gpu_check", help="model, checkpoint, export")
    p.add_argument("--no-bench", action="store_true", help="skip bench_gpu at the 7B shape")
    args = p.parse_args()
    summary = run_checks(make_check_plan(args.dry_run, args.workdir, bench=not args.no_bench))
    print(json.dumps(summary), flush=True)
    sys.exit(0 if summary["passed"] else 1)


if __name__ == "__main__":
    main()
