"""What each gloo rank runs in the FSDP2 tests (see gloo_ranks.run_ranks), and their data.

The parent writes every rank's micro-batches of steps 1 and 2 (real Alpaca rows, the tiny
Llama's tokenizer, the production schedule) to workdir/batches.pt; the ranks build the real
sharded model with `build_sharded_model` and step it with the production `train_step`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from recycle.config.train import TrainConfig
from recycle.train.schedule import Layout, build_schedule

BATCHES = "batches.pt"
# a large eps makes Adam's first update proportional to the gradient, so weights compare gradients
CFG = TrainConfig(
    lr=1e-2, warmup_ratio=0.0, grad_clip=1.0, global_batch_size=8, micro_batch_size=2, adam_eps=1.0
)


def write_batches(model_dir: Path, workdir: Path, layout: Layout, n_samples: int = 16) -> None:
    """Every rank's collated micro-batches of steps 1 and 2, for `layout`."""
    from tests.support.train_support import step_micro_batches, tokenized_alpaca

    _, _, ids, starts = tokenized_alpaca(model_dir, n_samples, 256)
    sids = [f"s{i:02d}" for i in range(n_samples)]
    s = build_schedule(sids, ids, starts, layout, 1, 0, False, 256, sort_by_length=True)
    ranks = [
        [step_micro_batches([table], step, layout.micro_batch_size, 0) for step in (1, 2)]
        for table in s.rank_tables
    ]
    workdir.mkdir(parents=True, exist_ok=True)
    torch.save({"model": str(model_dir), "ranks": ranks}, workdir / BATCHES)


def _data(workdir: Path) -> dict[str, Any]:
    return torch.load(workdir / BATCHES, weights_only=False)


def _build(model_dir: str, mesh: Any, rank: int, reduce_dtype: str = "fp32") -> tuple:
    from recycle.train.model import build_sharded_model
    from recycle.train.step import build_optimizer

    torch.manual_seed(0)
    model = build_sharded_model(
        model_dir,
        mesh,
        torch.device("cpu"),
        rank,
        attn="sdpa",
        mixed_precision="fp32",
        activation_checkpointing=False,
        reduce_dtype=reduce_dtype,
    )
    optimizer, scheduler = build_optimizer(model, CFG, total_steps=10)
    return model, optimizer, scheduler


def full_params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded weights (on rank 0; collective)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return {k: v.clone() for k, v in get_model_state_dict(model, options=options).items()}


@contextmanager
def count_reduce_scatters() -> Iterator[list[int]]:
    """Count FSDP2's gradient reduce-scatters on this rank."""
    from torch.distributed.fsdp._fully_shard import _fsdp_collectives as coll

    calls = [0]
    original = coll.DefaultReduceScatter.__call__

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return original(self, *args, **kwargs)

    coll.DefaultReduceScatter.__call__ = counted
    try:
        yield calls
    finally:
        coll.DefaultReduceScatter.__call__ = original


def _step(model, optimizer, scheduler, batches, world, last_only) -> dict[str, Any]:
    from recycle.train.step import train_step

    with count_reduce_scatters() as calls:
        r = train_step(model, batches, optimizer, scheduler, CFG.grad_clip, world, last_only)
    return {"loss": r.loss, "grad_norm": r.grad_norm, "reduce_scatters": calls[0]}


def accumulation_worker(rank: int, world: int, workdir: Path) -> dict[str, Any]:
    """Step 1 with gradients reduced every micro-batch, only after the last, and in bf16."""
    from recycle.train.model import build_mesh

    data = _data(workdir)
    batches = data["ranks"][rank][0]
    mesh = build_mesh("cpu", node_rank=0)  # one node: a flat mesh
    out = {}
    for name, reduce_dtype, last_only in (
        ("every", "fp32", False),
        ("last", "fp32", True),
        ("bf16", "bf16", True),
    ):
        model, optimizer, scheduler = _build(data["model"], mesh, rank, reduce_dtype)
        out[name] = _step(model, optimizer, scheduler, batches, world, last_only)
        out[name]["params"] = full_params(model)
    return out


def mesh_worker(rank: int, world: int, workdir: Path) -> dict[str, Any]:
    """Step 1 on a (replicate=2, shard=2) HSDP mesh ("nodes" of 2 ranks) and on a flat mesh."""
    from recycle.train.model import build_mesh

    data = _data(workdir)
    batches = data["ranks"][rank][0]
    out = {}
    for kind in ("auto", "flat"):
        mesh = build_mesh("cpu", node_rank=rank // 2, kind=kind)
        model, optimizer, scheduler = _build(data["model"], mesh, rank)
        out[kind] = _step(model, optimizer, scheduler, batches, world, True)
        out[kind]["mesh"] = (tuple(mesh.shape), mesh.mesh_dim_names)
        out[kind]["params"] = full_params(model)
    return out


def checkpoint_worker(rank: int, world: int, workdir: Path) -> dict[str, Any]:
    """Step 1, an async checkpoint written while step 2 trains, then step 2 again from it."""
    import torch.distributed as dist

    from recycle.train.checkpoint import TrainState, load_folder, write_checkpoint
    from recycle.train.model import build_mesh

    data = _data(workdir)
    mesh = build_mesh("cpu", node_rank=0)
    model, optimizer, scheduler = _build(data["model"], mesh, rank)
    first = _step(model, optimizer, scheduler, data["ranks"][rank][0], world, True)
    folder = workdir / "run" / "step_00000001"
    state = TrainState(step=1, fingerprint="fp", world_size=world)
    group = dist.new_group(backend="gloo")
    written = write_checkpoint(
        str(folder), model, optimizer, scheduler, state, rank, background=True, process_group=group
    )
    # the writer works in the background while step 2 changes the weights it is writing
    second = _step(model, optimizer, scheduler, data["ranks"][rank][1], world, True)
    written.result()
    dist.barrier()
    model2, optimizer2, scheduler2 = _build(data["model"], mesh, rank)
    restored = load_folder(str(folder), model2, optimizer2, scheduler2, rank, "fp")
    again = _step(model2, optimizer2, scheduler2, data["ranks"][rank][1], world, True)
    return {
        "first": first,
        "second": second,
        "again": again,
        "restored_step": restored.step,
        "files": sorted(p.name for p in folder.iterdir()),
        "writer": _writer_reports(rank, workdir, model, optimizer, scheduler),
    }


def _writer_reports(rank, workdir, model, optimizer, scheduler) -> dict[str, Any]:
    """CheckpointWriter into a local run folder and into a stand-in remote filesystem (a
    pyarrow SubTreeFileSystem, so it is not the LocalFileSystem), ray.train.report recorded."""
    import pyarrow.fs as pafs
    import ray.train

    from recycle.train.checkpoint import CheckpointWriter, TrainState

    reports: list[dict[str, Any]] = []

    def record(metrics, checkpoint=None, checkpoint_dir_name=None, checkpoint_upload_mode=None):
        reports.append(
            {
                "metrics": metrics,
                "path": checkpoint.path,
                "name": checkpoint_dir_name,
                "mode": str(checkpoint_upload_mode),
            }
        )

    ray.train.report = record
    staging = str(workdir / "staging")
    local = CheckpointWriter(
        pafs.LocalFileSystem(), str(workdir / "storage" / "run"), rank, torch.device("cpu"),
        staging, background=True,
    )  # fmt: skip
    local.save({"step": 3}, model, optimizer, scheduler, TrainState(step=3, fingerprint="fp"))
    polls = 1
    while not local.poll():  # every rank polls in lockstep: the all-reduce decides for all
        polls += 1
        time.sleep(0.02)
    (workdir / "remote").mkdir(exist_ok=True)
    remote_fs = pafs.SubTreeFileSystem(str(workdir / "remote"), pafs.LocalFileSystem())
    remote = CheckpointWriter(remote_fs, "run", rank, torch.device("cpu"), staging, background=True)
    remote.save({"step": 4}, model, optimizer, scheduler, TrainState(step=4, fingerprint="fp"))
    remote_folder = remote.folder(4)
    remote.wait()
    return {
        "reports": reports,
        "polls": polls,
        "local_folder": local.folder(3),
        "remote_staging_folder": remote_folder,
    }
