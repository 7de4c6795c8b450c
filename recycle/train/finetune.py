"""The steps of `recycle train` (recycle.commands.train): check the config, run the TorchTrainer.

    checks (before anything is spent)  ->  TrainData (Ray Data)
                       ->  TorchTrainer(train_loop_per_worker, ScalingConfig, RunConfig(storage_path,
                           name, FailureConfig, CheckpointConfig), one dataset per worker).fit()

Running it again with the same `train.name` and storage resumes from the latest checkpoint
(Ray Train finds the run's state under storage_path/name).
"""

from __future__ import annotations

import logging
import os
import posixpath
import time
from dataclasses import asdict, dataclass
from typing import Any

from recycle.config import RecycleConfig
from recycle.errors import ConfigError, RecycleError
from recycle.storage import local_folder
from recycle.train.attempts import read_attempts, restart_summary
from recycle.train.checkpoint import check_resumable
from recycle.train.dataset import TrainData
from recycle.train.export import model_dir
from recycle.train.loop import LoopSpec, train_loop_per_worker
from recycle.train.metrics_log import check_tracker

log = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"


class TrainingError(RecycleError):
    """Training failed after the configured retries; rerunning the command resumes it."""


@dataclass
class FinetuneResult:
    """What a finished fine-tuning run produced."""

    model_dir: str | None  # the exported Hugging Face folder (None when train.export is off)
    checkpoint: str | None  # the latest checkpoint's path in storage
    metrics: dict[str, Any]  # metrics reported with the latest checkpoint
    data: dict[str, Any]  # data and schedule counts
    restarts: dict[str, Any]  # this invocation's attempts, restarts and steps redone


def storage_path(cfg: RecycleConfig) -> str:
    """Ray Train storage: train.storage_path, else output.dir/checkpoints; local paths absolute."""
    path = cfg.train.storage_path or posixpath.join(cfg.output.dir.rstrip("/"), CHECKPOINTS_DIR)
    return path if "://" in path else os.path.abspath(os.path.expanduser(path))


def check_trainable_student(cfg: RecycleConfig) -> None:
    """The student model must be set and loadable before any worker starts.

    Raises:
        ConfigError: student.model is missing or has no readable config.
    """
    if not cfg.student.model:
        raise ConfigError(
            "student.model is not set; point it at the folder of the model to fine-tune (e.g. student.model=/models/Llama-2-7b-hf)"
        )
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(local_folder(cfg.student.model))
    except (OSError, ValueError) as err:
        raise ConfigError(f"student.model={cfg.student.model!r} cannot be loaded: {err}") from None


def check_config(cfg: RecycleConfig) -> None:
    """Start-up checks that need no data: the student loads, the tracker is installed, the
    attention implementation fits the device."""
    check_trainable_student(cfg)
    check_tracker(cfg.train.tracker)
    if cfg.train.attn_implementation == "flash_attention_2" and not cfg.train.use_gpu:
        raise ConfigError(
            "train.attn_implementation=flash_attention_2 needs train.use_gpu=true; "
            "use sdpa (or auto) on CPU"
        )
    if cfg.train.mixed_precision == "bf16" and not cfg.train.use_gpu:
        log.warning(
            "train.mixed_precision=bf16 on CPU is slow; train.mixed_precision=fp32 is the usual CPU choice"
        )


def build_trainer(cfg: RecycleConfig, data: TrainData, fault_after_step: int | None = None) -> Any:
    """The TorchTrainer of a run (not started)."""
    import ray.train
    from ray.train.torch import TorchTrainer

    t = cfg.train
    spec = LoopSpec(
        config=cfg.model_dump(mode="json"),
        fingerprint=data.schedule.fingerprint,
        steps_per_epoch=data.schedule.steps_per_epoch,
        pad_id=data.pad_id,
        stats=data.stats,
        fault_after_step=fault_after_step,
    )
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=asdict(spec),
        scaling_config=ray.train.ScalingConfig(
            num_workers=t.num_workers,
            use_gpu=t.use_gpu,
            resources_per_worker={"CPU": t.cpus_per_worker, **({"GPU": 1} if t.use_gpu else {})},
        ),
        run_config=ray.train.RunConfig(
            name=t.name,
            storage_path=storage_path(cfg),
            failure_config=ray.train.FailureConfig(max_failures=t.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=t.keep_checkpoints),
        ),
        datasets=data.datasets(),
        dataset_config=ray.train.DataConfig(datasets_to_split=[]),
    )


def warn_missing_gpus(cfg: RecycleConfig) -> None:
    """Say so when the cluster has fewer GPUs than workers now (Ray Train then waits)."""
    import ray

    have = ray.cluster_resources().get("GPU", 0)
    if cfg.train.use_gpu and have < cfg.train.num_workers:
        log.warning(
            "train.num_workers=%d GPU workers requested, the cluster has %s GPUs now: the run waits for the autoscaler",
            cfg.train.num_workers,
            have,
        )


def finetune(
    cfg: RecycleConfig, data: TrainData, fault_after_step: int | None = None
) -> FinetuneResult:
    """Fine-tune the student on prepared data; resumes when the same run name has checkpoints.

    Args:
        cfg: the resolved config (student, train, output, data, ray sections).
        data: the schedule from `prepare`.
        fault_after_step: testing hook, see `LoopSpec.fault_after_step`.

    Raises:
        TrainingError: the workers failed more than train.max_failures times.
    """
    import ray.train

    resumed = check_resumable(
        posixpath.join(storage_path(cfg), cfg.train.name), data.schedule.fingerprint
    )
    if resumed is not None:
        log.info(
            "resuming %s at step %d of %d", cfg.train.name, resumed.step, data.schedule.total_steps
        )
    trainer = build_trainer(cfg, data, fault_after_step)
    started = time.time()
    try:
        result = trainer.fit()
    except ray.train.TrainingFailedError as err:
        raise TrainingError(
            f"training failed: {err}; run the same command again to resume from the latest checkpoint in {storage_path(cfg)}/{cfg.train.name}"
        ) from err
    restarts = restart_summary(read_attempts(cfg.output.dir, cfg.train.name), since=started)
    if restarts["restarts"]:
        log.warning(
            "training restarted %d time(s) (a lost worker or node); %d step(s) done twice",
            restarts["restarts"], restarts["steps_redone"],
        )  # fmt: skip
    return FinetuneResult(
        model_dir=model_dir(cfg.output.dir) if cfg.train.export else None,
        checkpoint=result.checkpoint.path if result.checkpoint else None,
        metrics=dict(result.metrics or {}),
        data=data.stats,
        restarts=restarts,
    )
