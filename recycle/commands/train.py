"""`recycle train`: fine-tune the student with Ray Train + FSDP2 (recycle.train), then a manifest.

The manifest goes to OUTPUT/train/manifest.json, beside the run's own: rows read = samples trained
+ samples left out (per reason), checked like every command's. Running the command again with the
same train.name resumes from the latest checkpoint.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from recycle.commands import needs
from recycle.commands.runner import Command, Run, execute_run
from recycle.config import RecycleConfig
from recycle.pipeline.plan import plan_train
from recycle.preflight import Preflight
from recycle.train.attempts import TRAIN_DIR
from recycle.train.dataset import TrainData, prepare
from recycle.train.finetune import FinetuneResult, check_config, finetune, warn_missing_gpus


@dataclass
class Trained:
    """What training hands its manifest: the trainer's result and the data it trained on."""

    result: FinetuneResult | None = None
    data: TrainData | None = None


def train_command(cfg: RecycleConfig, fault_after_step: int | None = None) -> Command:
    """The command fine-tuning the student (counted in samples); its result in `state.result`."""

    def read(run: Run) -> TrainData:
        warn_missing_gpus(run.cfg)
        data = prepare(run.cfg)
        run.n_input = data.rows_read
        return data

    def write(run: Run, data: TrainData) -> None:
        result = finetune(run.cfg, data, fault_after_step)
        run.state.result, run.state.data = result, data
        run.extra["train"] = {"source": data.source, "metrics": result.metrics,
                              "steps_per_epoch": data.schedule.steps_per_epoch,
                              **result.restarts}  # fmt: skip
        run.outputs.update(checkpoint=result.checkpoint or "", model=result.model_dir or "")

    return Command("train", read=read, write=write, check=check_config, plan=plan_train, unit="samples",
                   counts=lambda run: counts(run.state.data), state=Trained, part_files=False,
                   out_dir=posixpath.join(cfg.output.dir.rstrip("/"), TRAIN_DIR),
                   timings=(None, "train"), preflight=needs.TRAIN)  # fmt: skip


def run_finetune(
    cfg: RecycleConfig, fault_after_step: int | None = None, preflight: bool | Preflight = True
) -> FinetuneResult:
    """Fine-tune the student on the run's data and write the training manifest.

    Raises:
        ConfigError, InputError: at start-up, before any worker starts.
        TrainingError: the workers failed more than train.max_failures times.
        InputError: samples were lost between reading and training (the invariant).
    """
    return execute_run(train_command(cfg, fault_after_step), cfg, preflight).state.result


def counts(data: TrainData) -> dict[str, Any]:
    """The manifest's counts: trained samples are kept; a builder's reject stays a reject."""
    rejected = {k: n for k, n in data.left_out.items() if k.startswith("rejected_")}
    dropped = {k: n for k, n in data.left_out.items() if k not in rejected}
    return {"kept": data.schedule.stats["samples"], "dropped": dropped, "rejected": rejected}
