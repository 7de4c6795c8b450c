"""Config of fine-tuning the student with Ray Train + FSDP2."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from recycle.config.base import Section

MixedPrecision = Literal["bf16", "fp32"]
AttnImplementation = Literal["auto", "sdpa", "flash_attention_2", "eager"]
Tracker = Literal["none", "mlflow", "wandb"]
ReduceDtype = Literal["fp32", "bf16"]
GradSync = Literal["last_micro_batch", "every_micro_batch"]
MeshKind = Literal["auto", "flat"]


class TrainConfig(Section):
    """Fine-tuning recipe; defaults follow the papers (Llama-2-7B, vicuna template, 3 epochs).

    global_batch_size = num_workers x micro_batch_size x gradient accumulation steps; the
    accumulation is derived, so the global batch must divide evenly.
    """

    # --- scale ---
    num_workers: int = Field(
        default=1, ge=1, description="Ray Train workers; one GPU each when use_gpu."
    )
    use_gpu: bool = Field(
        default=False, description="Train on GPUs (NCCL); False trains on CPU with gloo."
    )
    cpus_per_worker: float = Field(
        default=1.0, gt=0.0, description="CPUs Ray reserves per training worker."
    )
    # --- recipe ---
    epochs: int = Field(default=3, ge=1, description="Passes over the dataset.")
    global_batch_size: int = Field(
        default=128,
        ge=1,
        description="Rows per optimizer step over all workers: samples, or packed rows when packing.",
    )
    micro_batch_size: int = Field(
        default=4, ge=1, description="Rows per forward/backward on one worker."
    )
    max_length: int = Field(
        default=2048,
        ge=8,
        description="Longest training sequence (and packed row); longer responses are cut at their end.",
    )
    lr: float = Field(
        default=2e-5, gt=0.0, description="Peak learning rate (papers: 2e-5 for 7B, 1e-5 for 13B)."
    )
    min_lr_ratio: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Cosine schedule floor as a fraction of lr."
    )
    warmup_ratio: float = Field(
        default=0.03, ge=0.0, lt=1.0, description="Fraction of the steps with linear warmup."
    )
    weight_decay: float = Field(
        default=0.0, ge=0.0, description="AdamW weight decay (not applied to norms and biases)."
    )
    adam_beta1: float = Field(default=0.9, ge=0.0, lt=1.0, description="AdamW beta1.")
    adam_beta2: float = Field(default=0.999, ge=0.0, lt=1.0, description="AdamW beta2.")
    adam_eps: float = Field(default=1e-8, gt=0.0, description="AdamW epsilon.")
    grad_clip: float | None = Field(
        default=1.0, gt=0.0, description="Clip the global gradient norm; None disables clipping."
    )
    seed: int = Field(default=42, description="Seed of the data order and of every worker's RNG.")
    max_steps: int | None = Field(
        default=None,
        ge=1,
        description="Stop after this many optimizer steps (smoke runs); None trains all epochs.",
    )
    # --- efficiency ---
    packing: bool = Field(
        default=False, description="Pack several samples per row, attention isolated between them."
    )
    activation_checkpointing: bool = Field(
        default=True, description="Non-reentrant activation checkpointing of every decoder layer."
    )
    mixed_precision: MixedPrecision = Field(
        default="bf16",
        description="bf16: bf16 parameters in compute, fp32 master weights and gradient reduction.",
    )
    attn_implementation: AttnImplementation = Field(
        default="auto", description="auto: flash_attention_2 on GPU when installed, else sdpa."
    )
    sort_by_length: bool = Field(
        default=True,
        description="Order each step's rows by length before cutting micro-batches (less padding; "
        "the step's rows and gradient are the same).",
    )
    reduce_dtype: ReduceDtype = Field(
        default="fp32",
        description="Dtype of the gradient reduce-scatter/all-reduce; bf16 halves the bytes sent.",
    )
    grad_sync: GradSync = Field(
        default="last_micro_batch",
        description="last_micro_batch: reduce gradients once per step, after the last micro-batch "
        "(each worker keeps one unsharded gradient copy in reduce_dtype between micro-batches); "
        "every_micro_batch: reduce-scatter after every micro-batch (least memory).",
    )
    mesh: MeshKind = Field(
        default="auto",
        description="auto: shard within a node and replicate across nodes (HSDP) when the workers "
        "span several nodes with the same count on each; flat: shard over all workers.",
    )
    # --- data ---
    dataset: str | None = Field(
        default=None,
        description="Dataset to fine-tune on; None: the pipeline's kept rows under output.dir when present, else data.input.",
    )
    # --- checkpoints, resume, export ---
    checkpoint_every_steps: int = Field(
        default=100, ge=1, description="Sharded checkpoint every N steps (and at every epoch end)."
    )
    keep_checkpoints: int | None = Field(
        default=2, ge=1, description="Checkpoints kept in storage; None keeps all."
    )
    storage_path: str | None = Field(
        default=None,
        description="Ray Train storage (local, s3://, gs://); None: output.dir/checkpoints.",
    )
    checkpoint_dir: str | None = Field(
        default=None,
        description="Local folder where workers write checkpoints before they are copied to a "
        "remote storage_path (s3://, gs://); a local storage_path is written in place. "
        "None: ~/.cache/recycle/checkpoints.",
    )
    async_checkpoint: bool = Field(
        default=True,
        description="Write checkpoints in the background (torch.distributed.checkpoint.async_save) "
        "while training goes on; a checkpoint counts once every worker finished writing it.",
    )
    name: str = Field(
        default="finetune",
        min_length=1,
        description="Run name under storage_path; the same name resumes.",
    )
    max_failures: int = Field(
        default=3,
        ge=-1,
        description="Worker failures retried from the latest checkpoint (-1: forever).",
    )
    export: bool = Field(
        default=True, description="Write a Hugging Face folder to output.dir/model at the end."
    )
    # --- metrics ---
    report_every_steps: int = Field(
        default=1,
        ge=1,
        description="Steps between metric reports (ray.train.report) and progress lines.",
    )
    tracker: Tracker = Field(
        default="none", description="Also log metrics to MLflow or Weights & Biases."
    )
    tracker_project: str = Field(default="recycle", description="MLflow experiment or W&B project.")
    tracker_uri: str | None = Field(
        default=None, description="MLflow tracking URI; None uses MLFLOW_TRACKING_URI or ./mlruns."
    )
    peak_tflops_per_worker: float | None = Field(
        default=None,
        gt=0.0,
        description="Peak TFLOP/s of one worker for the MFU estimate; None: known GPUs only.",
    )

    @model_validator(mode="after")
    def _global_batch_divides(self) -> TrainConfig:
        per_pass = self.num_workers * self.micro_batch_size
        if self.global_batch_size % per_pass:
            raise ValueError(
                f"train.global_batch_size={self.global_batch_size} is not divisible by "
                f"train.num_workers x train.micro_batch_size = {self.num_workers} x "
                f"{self.micro_batch_size} = {per_pass}; pick a global batch that is a multiple "
                f"of {per_pass} (e.g. {max(per_pass, self.global_batch_size // per_pass * per_pass)})"
            )
        return self

    @model_validator(mode="after")
    def _flash_needs_half_precision(self) -> TrainConfig:
        if self.attn_implementation == "flash_attention_2" and self.mixed_precision == "fp32":
            raise ValueError(
                "train.attn_implementation=flash_attention_2 with train.mixed_precision=fp32: "
                "flash-attention computes in bf16/fp16 only; set train.mixed_precision=bf16, or "
                "train.attn_implementation=sdpa (or auto) to train in fp32"
            )
        return self

    @property
    def grad_accum_steps(self) -> int:
        """Micro-batches each worker runs per optimizer step."""
        return self.global_batch_size // (self.num_workers * self.micro_batch_size)
