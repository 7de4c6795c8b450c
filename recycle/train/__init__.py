"""Fine-tuning the student with Ray Train + FSDP2 on the recycled data.

Modules: samples (tokenize with the shared sequence builder), schedule (every worker's rows),
batches (micro-batch tensors and attention inputs), model (meta init, FSDP2, loss), step (one
optimizer step), checkpoint, metrics, metrics_log, export, dataset (Ray Data side), loop (the
per-worker function), finetune (the TorchTrainer). `recycle.commands.train.run_finetune` drives them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FinetuneResult", "TrainingError"]


def __getattr__(name: str) -> Any:
    """Import the driver lazily: Ray Data workers that only tokenize never load torch/Ray Train."""
    if name in __all__:
        from recycle.train import finetune

        return getattr(finetune, name)
    raise AttributeError(f"module 'recycle.train' has no attribute {name!r}")
