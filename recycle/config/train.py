"""Config of fine-tuning the student with Ray Train + FSDP2."""

from __future__ import annotations

from pydantic import Field

from recycle.config.base import Section


class TrainConfig(Section):
    """Fine-tuning recipe; defaults follow the papers (Llama-2-7B)."""

    num_workers: int = Field(default=1, ge=1)
    use_gpu: bool = Field(default=False)
    epochs: int = Field(default=3, ge=1)
    global_batch_size: int = Field(default=128, ge=1)
    micro_batch_size: int = Field(default=4, ge=1)
    max_length: int = Field(default=2048, ge=8)
    lr: float = Field(default=2e-5, gt=0.0)
    warmup_ratio: float = Field(default=0.03, ge=0.0, lt=1.0)
