"""`recycle train`: fine-tune the student with Ray Train + FSDP2 (recycle.train), then a manifest.

The manifest goes to OUTPUT/train/manifest.json, beside the run's own: rows read = samples trained
+ samples left out (per reason), checked like every command's. Running the command again with the
same train.name resumes from the latest checkpoint.
"""

from __future__ import annotations

import posixpath
import time

from recycle.commands.runner import Run, close, start
from recycle.config import RecycleConfig
from recycle.train.dataset import TrainData, prepare
from recycle.train.finetune import FinetuneResult, check_config, finetune, warn_missing_gpus

TRAIN_DIR = "train"


def run_finetune(cfg: RecycleConfig, fault_after_step: int | None = None) -> FinetuneResult:
    """Fine-tune the student on the run's data and write the training manifest.

    Raises:
        ConfigError, InputError: at start-up, before any worker starts.
        TrainingError: the workers failed more than train.max_failures times.
        InputError: samples were lost between reading and training (the invariant).
    """
    start(cfg, check_config)
    warn_missing_gpus(cfg)
    began = time.perf_counter()
    data = prepare(cfg)
    result = finetune(cfg, data, fault_after_step)
    run = Run(cfg, n_input=data.rows_read, part_files=False, lost="samples",
              out_dir=posixpath.join(cfg.output.dir.rstrip("/"), TRAIN_DIR))  # fmt: skip
    run.timings["train"] = time.perf_counter() - began
    run.extra["train"] = {"source": data.source, "steps_per_epoch": data.schedule.steps_per_epoch,
                          "metrics": result.metrics}  # fmt: skip
    run.outputs.update(checkpoint=result.checkpoint or "", model=result.model_dir or "")
    close("train", run, counts(data))
    return result


def counts(data: TrainData) -> dict[str, object]:
    """The manifest's counts: trained samples are kept; a builder's reject stays a reject."""
    rejected = {k: n for k, n in data.left_out.items() if k.startswith("rejected_")}
    dropped = {k: n for k, n in data.left_out.items() if k not in rejected}
    return {"kept": data.schedule.stats["samples"], "dropped": dropped, "rejected": rejected}
