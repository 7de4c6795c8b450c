"""Run a function on N CPU processes joined by a gloo process group (no Ray), collect results.

The FSDP2 tests of accumulation, the device mesh and checkpoints run the real sharded model on
2 or 4 local ranks this way: each rank calls `fn(rank, world, workdir)` and rank 0's return
value comes back to the test.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULT = "result_rank0.pt"


def _entry(rank: int, fn: Callable[[int, int, Path], Any], world: int, workdir: Path) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{workdir}/store", rank=rank, world_size=world
    )
    try:
        out = fn(rank, world, workdir)
        if rank == 0:
            torch.save(out, workdir / RESULT)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_ranks(fn: Callable[[int, int, Path], Any], world: int, workdir: Path) -> Any:
    """Run `fn` on `world` forked gloo ranks; rank 0's return value (a torch.save-able object).

    Forked, not spawned: a spawned rank imports torch, transformers and recycle again before it
    runs (~4 CPU-seconds each); the three modules' 8 ranks took 63 CPU-seconds spawned, 19 forked.
    The parent holds no process group or CUDA state that a fork would copy."""
    import torch.multiprocessing as mp

    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.start_processes(
        _entry, args=(fn, world, workdir), nprocs=world, join=True, start_method="fork"
    )
    return torch.load(workdir / RESULT, weights_only=False)
