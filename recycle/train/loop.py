"""The per-worker training function that Ray Train runs on every worker.

    build the sharded model -> resume from the latest checkpoint, if any -> for each step of this
    worker's rows: accumulate micro-batches, step, report metrics (and a checkpoint every N steps
    and at epoch ends) -> export the Hugging Face folder

Every rank runs the same steps (the schedule gives each the same number of micro-batches) and
calls `ray.train.report` at the same steps, as Ray Train requires.
"""

from __future__ import annotations

import bisect
import logging
import os
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from ray.data.collate_fn import NumpyBatchCollateFn

from recycle import columns as C
from recycle.config import RecycleConfig, redacted
from recycle.storage import local_folder
from recycle.train.attempts import AttemptLog
from recycle.train.batches import collate_rows
from recycle.train.checkpoint import CheckpointWriter, TrainState, load_checkpoint
from recycle.train.export import export_hf
from recycle.train.metrics import ModelShape, StepMeter, mean_context, peak_flops, train_step_line
from recycle.train.metrics_log import MetricsLog, Tracker
from recycle.train.model import build_mesh, build_sharded_model, parameter_count, resolve_attn
from recycle.train.step import build_optimizer, train_step

log = logging.getLogger(__name__)


class CollateRows(NumpyBatchCollateFn):
    """`iter_torch_batches` collate function: schedule rows -> a dict of (B, T) tensors.

    Kept here, with the Ray Train loop, so that `recycle.train.batches` imports without Ray.
    """

    def __init__(self, pad_id: int):
        super().__init__()
        self.pad_id = pad_id

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return collate_rows(batch, self.pad_id)


@dataclass
class LoopSpec:
    """Everything a worker needs, as plain data (it travels to the workers as train_loop_config).

    Attributes:
        config: the resolved RecycleConfig, as a dict.
        fingerprint: the schedule's fingerprint (checked against a resumed checkpoint).
        steps_per_epoch: optimizer steps of each epoch.
        pad_id: token id written on padded positions.
        stats: schedule counts, written into the export manifest.
        fault_after_step: testing hook: every worker exits abruptly after this step, as on a
            preempted node (rank 0 first writes the metrics of the steps since the last
            checkpoint); None in real runs.
    """

    config: dict[str, Any]
    fingerprint: str
    steps_per_epoch: list[int]
    pad_id: int
    stats: dict[str, Any] = field(default_factory=dict)
    fault_after_step: int | None = None

    @property
    def total_steps(self) -> int:
        return sum(self.steps_per_epoch)

    @property
    def epoch_ends(self) -> list[int]:
        ends, acc = [], 0
        for n in self.steps_per_epoch:
            acc += n
            ends.append(acc)
        return ends

    def epoch_of(self, step: int) -> int:
        """0-based epoch of a 1-based step."""
        return bisect.bisect_left(self.epoch_ends, step)


def iterate_steps(
    shard: Any,
    collate: CollateRows,
    micro_batch_size: int,
    accum: int,
    start_step: int,
    total_steps: int,
) -> Iterator[tuple[int, list[dict[str, torch.Tensor]]]]:
    """(step, this worker's micro-batches of the step in micro order) for every step after `start_step`.

    Micro-batches are grouped by their step column, so a prefetching iterator that hands them
    over slightly out of order still yields every step complete and in order.

    Raises:
        RuntimeError: the rows do not form `accum` micro-batches per step up to `total_steps`
            (a schedule and loop out of sync: ranks would deadlock, so stop instead).
    """
    expected = start_step + 1
    pending: dict[int, list[dict[str, torch.Tensor]]] = {}
    for batch in shard.iter_torch_batches(
        batch_size=micro_batch_size, collate_fn=collate, prefetch_batches=1
    ):
        steps = batch[C.STEP]  # (B,)
        step = int(steps[0])
        if not bool((steps == step).all()):
            raise RuntimeError(
                f"a micro-batch mixes steps {steps.unique().tolist()}: the schedule and the loop disagree"
            )
        if step <= start_step:
            continue
        pending.setdefault(step, []).append(batch)
        while len(pending.get(expected, ())) == accum:
            group = sorted(pending.pop(expected), key=lambda b: int(b[C.MICRO][0]))
            yield expected, group
            expected += 1
    if expected != total_steps + 1 or pending:
        raise RuntimeError(
            f"this worker's rows ended at step {expected - 1} of {total_steps} (incomplete steps: {sorted(pending)})"
        )


class Worker:
    """The state of one training worker between steps."""

    def __init__(self, spec: LoopSpec):
        import ray.train
        import ray.train.torch

        self.spec, self.cfg = spec, RecycleConfig.model_validate(spec.config)
        self.student = local_folder(self.cfg.student.model)  # copied here when on s3:// or gs://
        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.device = ray.train.torch.get_device()
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)  # NCCL and the device mesh use the current device
        torch.manual_seed(self.cfg.train.seed + self.rank)
        random.seed(self.cfg.train.seed + self.rank)
        mesh = build_mesh(self.device.type, ctx.get_node_rank(), self.cfg.train.mesh)
        self.model = self._build_model(mesh)
        self.optimizer, self.scheduler = build_optimizer(
            self.model, self.cfg.train, spec.total_steps
        )
        self.state = self._resume(ray.train.get_checkpoint())
        self.meter = self._meter()
        t = self.cfg.train
        self.checkpoints = CheckpointWriter.for_ray_train(
            self.rank, self.device, t.checkpoint_dir, t.name, t.async_checkpoint
        )
        lead = self.rank == 0
        self.metrics_log = MetricsLog(self.cfg.output.dir) if lead else None
        self.attempt = (
            AttemptLog(self.cfg.output.dir, t.name, self.state.step, self.world) if lead else None
        )
        params = redacted(self.cfg)
        self.tracker = (
            Tracker(t.tracker, t.tracker_project, t.name, params, t.tracker_uri) if lead else None
        )

    def _build_model(self, mesh: Any) -> torch.nn.Module:
        t = self.cfg.train
        return build_sharded_model(
            self.student,
            mesh,
            self.device,
            self.rank,
            attn=resolve_attn(t.attn_implementation, t.use_gpu, t.mixed_precision),
            mixed_precision=t.mixed_precision,
            activation_checkpointing=t.activation_checkpointing,
            reduce_dtype=t.reduce_dtype,
        )

    def _resume(self, checkpoint: Any) -> TrainState:
        """The state to start from: the latest checkpoint's, or step 0."""
        if checkpoint is None:
            return TrainState(fingerprint=self.spec.fingerprint, world_size=self.world)
        args = (self.model, self.optimizer, self.scheduler, self.rank, self.spec.fingerprint)
        state = load_checkpoint(checkpoint, *args)
        state.world_size = self.world
        return state

    def _meter(self) -> StepMeter:
        config = self.model.lm.config
        shape = ModelShape(
            parameter_count(self.model), config.num_hidden_layers, config.hidden_size
        )
        t = self.cfg.train
        peak = peak_flops(self.device, t.mixed_precision, t.peak_tflops_per_worker)
        return StepMeter(shape, self.world, peak, self.device, self.spec.total_steps)

    def run(self) -> None:
        """Train every remaining step, then export."""
        import ray.train

        t = self.cfg.train
        collate = CollateRows(self.spec.pad_id)
        shard = ray.train.get_dataset_shard(f"rank_{self.rank}")
        self.meter.start()
        for step, micro_batches in iterate_steps(
            shard,
            collate,
            t.micro_batch_size,
            t.grad_accum_steps,
            self.state.step,
            self.spec.total_steps,
        ):
            result = train_step(
                self.model,
                micro_batches,
                self.optimizer,
                self.scheduler,
                t.grad_clip,
                self.world,
                sync_last_micro_batch_only=t.grad_sync == "last_micro_batch",
            )
            self.state.step, self.state.epoch = step, self.spec.epoch_of(step)
            metrics = self.meter.metrics(
                step, self.state.epoch, result, mean_context(micro_batches)
            )
            self._report(metrics)
            self.checkpoints.poll()
            if self.spec.fault_after_step == step:
                self._die()
            self.meter.start()
        self._finish()

    def _die(self) -> None:
        """Testing hook: exit like a preempted node, leaving the metrics of the lost steps
        behind (rank 0) so that a test can compare them with the resumed run's. A checkpoint
        still being written is finished and reported first, and the worker exits only once Ray
        Train's controller has taken the report (it polls workers for them: a report still queued
        in a dead worker is lost, and the rerun would resume from an older checkpoint), so the
        test knows where the rerun resumes."""
        self.checkpoints.wait()
        _wait_until_reports_are_taken()
        if self.rank == 0:
            self.metrics_log.flush()
        os._exit(1)

    def _report(self, metrics: dict[str, Any]) -> None:
        import ray.train

        t, step = self.cfg.train, metrics["step"]
        if self.rank == 0:
            self.metrics_log.add(metrics)
            self.tracker.log(metrics, step)
            self.attempt.step_done(step)
        checkpoint_due = step % t.checkpoint_every_steps == 0 or step in self.spec.epoch_ends
        reported = False
        if checkpoint_due:
            args = (self.model, self.optimizer, self.scheduler, self.state)
            reported = self.checkpoints.save(metrics, *args)
            if self.rank == 0:
                self.metrics_log.flush()
        if not reported and step % t.report_every_steps == 0:
            ray.train.report(metrics)
        if self.rank == 0 and (checkpoint_due or step % t.report_every_steps == 0):
            log.info(train_step_line(metrics))

    def _finish(self) -> None:
        self.checkpoints.wait()
        if self.rank == 0:
            self.metrics_log.flush()
            self.tracker.close()
        if not self.cfg.train.export:
            return
        dtype = torch.bfloat16 if self.cfg.train.mixed_precision == "bf16" else torch.float32
        manifest = {
            "config": redacted(self.cfg),
            "schedule": self.spec.stats,
            "state": asdict(self.state),
            "steps_per_epoch": self.spec.steps_per_epoch,
        }
        uri = export_hf(self.model, self.student, self.cfg.output.dir, dtype, self.rank, manifest)
        if self.rank == 0:
            log.info("[train] exported the Hugging Face model to %s", uri)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train entry point: `config` is a `LoopSpec` as a dict."""
    Worker(LoopSpec(**config)).run()


def _wait_until_reports_are_taken(timeout_s: float = 30.0) -> None:
    """Block until Ray Train's controller has polled this worker's queued reports (at most
    `timeout_s`). Reaches into Ray Train's internal context: used by the testing hook only."""
    try:
        from ray.train.v2._internal.execution.context import get_train_context

        queued = get_train_context().get_result_queue()
    except (ImportError, AttributeError, RuntimeError):
        time.sleep(2.0)  # another Ray Train: a few of the controller's polls
        return
    deadline = time.monotonic() + timeout_s
    while queued.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.05)
