"""Sharded checkpoints through Ray Train: save, report, and resume exactly where a run stopped.

A checkpoint folder `step_00000120/` holds

    .metadata, __<rank>_0.distcp     model + optimizer shards (torch.distributed.checkpoint)
    trainer_state.json               step, epoch, schedule fingerprint, world size (rank 0)
    extra_rank<r>.pt                 scheduler state and RNG states of rank r

Each worker writes its own files to a local temporary folder and reports it with
`ray.train.report(checkpoint=...)`; Ray Train merges the folders under
`storage_path/name/step_*` (local, s3://, gs://). On resume every worker loads the shards it
needs; the data position is the step, since the schedule fixes the rows of every step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from recycle.errors import ConfigError

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
EXTRA_FILE = "extra_rank{rank}.pt"


@dataclass
class TrainState:
    """Where training is: the last completed step and the plan it belongs to."""

    step: int = 0
    epoch: int = 0
    fingerprint: str = ""
    world_size: int = 1


def checkpoint_dir_name(step: int) -> str:
    """Name of the checkpoint folder of a step; sorts in step order."""
    return f"step_{step:08d}"


def rng_state() -> dict[str, Any]:
    """RNG states of this process (python, torch CPU, and CUDA when present)."""
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved."""
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_checkpoint(
    folder: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: TrainState,
    rank: int,
) -> None:
    """Write this rank's part of a checkpoint into a local folder (collective: all ranks call it)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_sd, optim_sd = get_state_dict(model, optimizer)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=folder)
    extra = {"scheduler": scheduler.state_dict(), "rng": rng_state()}
    torch.save(extra, os.path.join(folder, EXTRA_FILE.format(rank=rank)))
    if rank == 0:
        with open(os.path.join(folder, STATE_FILE), "w") as f:
            json.dump(asdict(state), f)


def save_and_report(
    metrics: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: TrainState,
    rank: int,
) -> None:
    """Write a checkpoint and report it with the step's metrics to Ray Train."""
    import ray.train

    with tempfile.TemporaryDirectory(prefix="recycle-ckpt-") as folder:
        write_checkpoint(folder, model, optimizer, scheduler, state, rank)
        ray.train.report(
            metrics,
            checkpoint=ray.train.Checkpoint.from_directory(folder),
            checkpoint_dir_name=checkpoint_dir_name(state.step),
        )


@contextlib.contextmanager
def local_folder(checkpoint: Any) -> Iterator[str]:
    """A local path of a reported checkpoint: the folder itself on local storage, else a download."""
    import pyarrow.fs as pafs

    if isinstance(checkpoint.filesystem, pafs.LocalFileSystem):
        yield checkpoint.path
        return
    with checkpoint.as_directory() as folder:
        yield folder


def read_state(folder: str) -> TrainState:
    """The trainer state of a checkpoint folder."""
    with open(os.path.join(folder, STATE_FILE)) as f:
        return TrainState(**json.load(f))


def load_checkpoint(
    checkpoint: Any,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rank: int,
    fingerprint: str,
) -> TrainState:
    """Restore model and optimizer shards, scheduler, RNG and position from a reported checkpoint.

    Raises:
        ConfigError: the checkpoint belongs to another schedule (other data or recipe).
    """
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    with local_folder(checkpoint) as folder:
        state = read_state(folder)
        if state.fingerprint != fingerprint:
            raise ConfigError(
                f"the checkpoint in {checkpoint.path} belongs to another data schedule; use a new train.name"
            )
        model_sd, optim_sd = get_state_dict(model, optimizer)
        target = {"model": model_sd, "optim": optim_sd}
        dcp.load(target, checkpoint_id=folder)
        set_state_dict(
            model, optimizer, model_state_dict=target["model"], optim_state_dict=target["optim"]
        )
        _load_extra(folder, scheduler, rank, state)
    log.info("resumed from %s at step %d", checkpoint.path, state.step)
    return state


def _load_extra(folder: str, scheduler: Any, rank: int, state: TrainState) -> None:
    own = os.path.join(folder, EXTRA_FILE.format(rank=rank))
    path = own if os.path.exists(own) else os.path.join(folder, EXTRA_FILE.format(rank=0))
    extra = torch.load(path, weights_only=True)
    scheduler.load_state_dict(extra["scheduler"])
    if path == own and state.world_size > rank:
        set_rng_state(extra["rng"])


def latest_state(run_uri: str) -> TrainState | None:
    """The trainer state of the newest checkpoint folder under a Ray Train run, if any."""
    import posixpath

    import pyarrow.fs as pafs

    from recycle.storage import filesystem

    fs, path = filesystem(run_uri)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return None
    folders = sorted(
        i.path
        for i in fs.get_file_info(pafs.FileSelector(path))
        if i.type == pafs.FileType.Directory and posixpath.basename(i.path).startswith("step_")
    )
    for folder in reversed(folders):
        state_file = posixpath.join(folder, STATE_FILE)
        if fs.get_file_info(state_file).type == pafs.FileType.File:
            with fs.open_input_stream(state_file) as f:
                return TrainState(**json.loads(f.read().decode("utf-8")))
    return None


def check_resumable(run_uri: str, fingerprint: str) -> TrainState | None:
    """The state a rerun resumes from; fails at start-up when it belongs to another schedule.

    Raises:
        ConfigError: the latest checkpoint was written for other data or another recipe.
    """
    state = latest_state(run_uri)
    if state is not None and state.fingerprint != fingerprint:
        raise ConfigError(
            f"{run_uri} holds checkpoints of another data schedule (the dataset, seed, batch size, "
            "packing or max_length changed); use a new train.name (or output.dir) to start a new run, "
            "or restore the settings to resume"
        )
    return state
