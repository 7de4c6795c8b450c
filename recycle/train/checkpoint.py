"""Sharded checkpoints through Ray Train: save, report, and resume exactly where a run stopped.

A checkpoint folder `step_00000120/` holds

    .metadata, __<rank>_0.distcp     model + optimizer shards (torch.distributed.checkpoint)
    extra_rank<r>.pt                 scheduler state and RNG states of rank r
    trainer_state.json               step, epoch, schedule fingerprint, world size (rank 0,
                                     written last: a folder without it is incomplete)

Workers write straight into the run's folder under a local (or shared) `storage_path`; for a
remote one (s3://, gs://) they write under the local `train.checkpoint_dir` and copy their files
up. Never under /tmp. With `train.async_checkpoint` the shards are staged to host memory and
written by a background thread (`torch.distributed.checkpoint.async_save`, over a gloo group of
its own) while training goes on; the checkpoint is reported to Ray Train
(`ray.train.report(checkpoint=..., checkpoint_upload_mode=NO_UPLOAD)`) once every worker has
finished it, so Ray only ever resumes from a complete checkpoint. On resume every worker loads the
shards it needs; the data position is the step, since the schedule fixes the rows of every step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import posixpath
import random
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from recycle.errors import ConfigError

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
EXTRA_FILE = "extra_rank{rank}.pt"
DEFAULT_STAGING = "~/.cache/recycle/checkpoints"  # train.checkpoint_dir when unset


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
    *,
    background: bool = False,
    process_group: Any = None,
) -> Future:
    """Write this rank's part of a checkpoint into a local folder (collective: all ranks call it).

    Args:
        background: stage the shards to host memory and write them in a background thread
            (`dcp.async_save`); the caller may train on at once.
        process_group: the group the background writer talks over (one of its own, so that it
            never interleaves with the training collectives); None: the default group.

    Returns:
        a future that is done when this rank's files, and on rank 0 the trainer state written
        last, are in the folder.
    """
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    os.makedirs(folder, exist_ok=True)
    model_sd, optim_sd = get_state_dict(model, optimizer)
    extra = {"scheduler": scheduler.state_dict(), "rng": rng_state()}
    torch.save(extra, os.path.join(folder, EXTRA_FILE.format(rank=rank)))
    sd = {"model": model_sd, "optim": optim_sd}
    if background:
        shards = dcp.async_save(sd, checkpoint_id=folder, process_group=process_group)
        shards = getattr(shards, "upload_completion", shards)  # an AsyncSaveResponse's future
    else:
        dcp.save(sd, checkpoint_id=folder, process_group=process_group)
        shards = Future()
        shards.set_result(None)
    done: Future = Future()
    snapshot = replace(state)

    def _state_file(f: Future) -> None:
        try:
            f.result()
            if rank == 0:
                with open(os.path.join(folder, STATE_FILE), "w") as out:
                    json.dump(asdict(snapshot), out)
            done.set_result(folder)
        except Exception as err:  # noqa: BLE001  handed to whoever waits on the future
            done.set_exception(err)

    shards.add_done_callback(_state_file)
    return done


def async_save_available() -> bool:
    """Whether the installed torch has `torch.distributed.checkpoint.async_save`."""
    import torch.distributed.checkpoint as dcp

    return hasattr(dcp, "async_save")


@dataclass
class _Pending:
    """A checkpoint being written: its future and what to report with it."""

    done: Future
    metrics: dict[str, Any]
    step: int


class CheckpointWriter:
    """Writes checkpoints where storage_path / checkpoint_dir say and reports complete ones.

    Every rank calls `save` at the same steps and `poll` after every step; a checkpoint is
    reported to Ray Train when all ranks have finished writing it (a one-number all-reduce
    decides, so every rank reports at the same step, as Ray Train requires).
    """

    def __init__(
        self,
        fs: Any,
        run_dir: str,
        rank: int,
        device: torch.device,
        staging_dir: str,
        background: bool,
    ):
        """
        Args:
            fs, run_dir: the Ray Train run's storage filesystem and folder (checkpoints go to
                run_dir/step_*).
            rank, device: this worker's rank and device (for the all-reduce of `poll`).
            staging_dir: local folder for checkpoints bound for a remote filesystem.
            background: write with `dcp.async_save` when the installed torch has it.
        """
        import torch.distributed as dist

        self.fs, self.run_dir, self.rank, self.device = fs, run_dir, rank, device
        self.staging = None if is_local_filesystem(fs) else staging_dir
        self.background = background and async_save_available()
        distributed = dist.is_available() and dist.is_initialized()
        self.group = dist.new_group(backend="gloo") if self.background and distributed else None
        self.uploads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ckpt-upload")
        self.pending: _Pending | None = None

    @classmethod
    def for_ray_train(
        cls,
        rank: int,
        device: torch.device,
        checkpoint_dir: str | None,
        name: str,
        background: bool,
    ) -> CheckpointWriter:
        """A writer into the current Ray Train run's storage."""
        import ray.train

        storage = ray.train.get_context().get_storage()
        staging = os.path.join(os.path.expanduser(checkpoint_dir or DEFAULT_STAGING), name)
        return cls(
            storage.storage_filesystem,
            storage.experiment_fs_path,
            rank,
            device,
            staging,
            background,
        )

    def folder(self, step: int) -> str:
        """Where this rank writes the checkpoint of a step: the run's folder in place, or its
        own staging folder (ranks of one node never remove each other's files)."""
        name = checkpoint_dir_name(step)
        if self.staging:
            return os.path.join(self.staging, f"{name}.rank{self.rank}")
        return posixpath.join(self.run_dir, name)

    def save(
        self,
        metrics: dict[str, Any],
        model: nn.Module,
        optimizer: Any,
        scheduler: Any,
        state: TrainState,
    ) -> bool:
        """Start writing the checkpoint of `state.step` (the previous one is finished first).

        Returns:
            True when it was written and reported already (not in the background).
        """
        self.wait()
        folder = self.folder(state.step)
        log.info("writing checkpoint %s%s", folder, " in the background" if self.background else "")
        args = (model, optimizer, scheduler, state, self.rank)
        written = write_checkpoint(
            folder, *args, background=self.background, process_group=self.group
        )
        done = (
            written
            if self.staging is None
            else self.uploads.submit(self._upload, written, state.step)
        )
        self.pending = _Pending(done, dict(metrics), state.step)
        if not self.background:
            self.wait()
        return not self.background

    def _upload(self, written: Future, step: int) -> None:
        import pyarrow.fs as pafs

        local = written.result()
        target = posixpath.join(self.run_dir, checkpoint_dir_name(step))
        self.fs.create_dir(target, recursive=True)
        pafs.copy_files(local, target, destination_filesystem=self.fs)
        shutil.rmtree(local, ignore_errors=True)

    def poll(self) -> bool:
        """Report the pending checkpoint if every rank has finished it; True when reported."""
        from recycle.train.step import all_sum

        if self.pending is None:
            return False
        (unfinished,) = all_sum([not self.pending.done.done()], self.device)
        if unfinished:
            return False
        self._report()
        return True

    def wait(self) -> None:
        """Finish and report the pending checkpoint, if any."""
        if self.pending is not None:
            self.pending.done.result()
            self._report()

    def _report(self) -> None:
        import ray.train

        pending, self.pending = self.pending, None
        pending.done.result()  # raises what the writer raised
        name = checkpoint_dir_name(pending.step)
        checkpoint = ray.train.Checkpoint(posixpath.join(self.run_dir, name), filesystem=self.fs)
        ray.train.report(
            pending.metrics,
            checkpoint=checkpoint,
            checkpoint_dir_name=name,
            checkpoint_upload_mode=ray.train.CheckpointUploadMode.NO_UPLOAD,
        )


def is_local_filesystem(fs: Any) -> bool:
    """Whether a pyarrow filesystem is the local one (a storage_path on local or shared disk)."""
    import pyarrow.fs as pafs

    return isinstance(fs, pafs.LocalFileSystem)


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
    with local_folder(checkpoint) as folder:
        state = load_folder(folder, model, optimizer, scheduler, rank, fingerprint)
    log.info("resumed from %s at step %d", checkpoint.path, state.step)
    return state


def load_folder(
    folder: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rank: int,
    fingerprint: str,
) -> TrainState:
    """Restore everything `write_checkpoint` wrote into a local folder (collective).

    Raises:
        ConfigError: the checkpoint belongs to another schedule (other data or recipe).
    """
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    state = read_state(folder)
    if state.fingerprint != fingerprint:
        raise ConfigError(
            f"the checkpoint in {folder} belongs to another data schedule; use a new train.name"
        )
    model_sd, optim_sd = get_state_dict(model, optimizer)
    target = {"model": model_sd, "optim": optim_sd}
    dcp.load(target, checkpoint_id=folder)
    set_state_dict(
        model, optimizer, model_state_dict=target["model"], optim_state_dict=target["optim"]
    )
    _load_extra(folder, scheduler, rank, state)
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
