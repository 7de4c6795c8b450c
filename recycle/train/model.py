"""The student as a training module: built on the meta device, sharded with FSDP2, loaded once.

Every worker builds the model skeleton on the meta device (no memory, no weights), applies
activation checkpointing, `fully_shard`s each decoder layer and then the root over a 1-D device
mesh, and materializes only its own shards. Rank 0 alone reads the pretrained weights and they
are broadcast into the shards, so a 13B model is read once per job, not once per worker.

The root module, `CausalLMLoss`, returns the summed NLL of the target tokens: only hidden
states that predict a target are projected onto the vocabulary, never (B, T, V) logits.
Shapes: B rows, T length, H hidden, V vocabulary, N target positions.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from recycle.errors import ConfigError
from recycle.student.model import dtype_kwarg
from recycle.train.batches import (
    ATTENTION_MASK,
    IGNORE_INDEX,
    INPUT_IDS,
    LABELS,
    POSITION_IDS,
    block_causal_mask,
    flatten_varlen,
)

log = logging.getLogger(__name__)

FLASH = "flash_attention_2"
PREFIX = "lm."  # state-dict prefix of the wrapped Hugging Face model


class CausalLMLoss(nn.Module):
    """A Hugging Face causal LM whose forward returns (summed target NLL, number of targets).

    Args:
        lm: the Hugging Face causal LM (its decoder and LM head are used directly).
    """

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm
        self.varlen = lm.config._attn_implementation.startswith("flash")
        self.softcap = getattr(lm.config, "final_logit_softcapping", None)

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed NLL over target positions and their count.

        Args:
            input_ids, position_ids, attention_mask, labels: (B, T) from `collate_rows`.

        Returns:
            (0-d float32 NLL sum, 0-d int64 number of target tokens).
        """
        batch = {
            INPUT_IDS: input_ids,
            POSITION_IDS: position_ids,
            ATTENTION_MASK: attention_mask,
            LABELS: labels,
        }
        hidden, labels = self._hidden(batch)  # (B, T, H), (B, T)
        keep = labels != IGNORE_INDEX  # (B, T)
        logits = self.lm.get_output_embeddings()(hidden[keep]).float()  # (N, V)
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        nll = F.cross_entropy(logits, labels[keep], reduction="sum")
        return nll, keep.sum()

    def _hidden(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        decoder = self.lm.get_decoder()
        if self.varlen:
            flat, kwargs = flatten_varlen(batch)  # (1, N) rows + cumulative lengths
            out = decoder(
                input_ids=flat[INPUT_IDS],
                position_ids=flat[POSITION_IDS],
                use_cache=False,
                **kwargs,
            )
            return out.last_hidden_state, flat[LABELS]
        eager = self.lm.config._attn_implementation == "eager"
        mask = block_causal_mask(
            batch[POSITION_IDS], torch.float32 if eager else None
        )  # (B, 1, T, T)
        out = decoder(
            input_ids=batch[INPUT_IDS],
            position_ids=batch[POSITION_IDS],
            attention_mask=mask,
            use_cache=False,
        )
        return out.last_hidden_state, batch[LABELS]


def resolve_attn(requested: str, use_gpu: bool) -> str:
    """The attention implementation to build: flash-attention on GPU when installed, else SDPA."""
    if requested != "auto":
        return requested
    if use_gpu:
        try:
            import flash_attn  # noqa: F401
        except ImportError:
            log.warning("flash-attn is not installed: using SDPA with an explicit block mask")
            return "sdpa"
        return FLASH
    return "sdpa"


def decoder_layers(lm: nn.Module) -> nn.ModuleList:
    """The decoder layers of a Hugging Face causal LM (each becomes one FSDP unit).

    Raises:
        ConfigError: the architecture keeps its layers somewhere unknown.
    """
    layers = getattr(lm.get_decoder(), "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(
            f"cannot find the decoder layers of {type(lm).__name__} (expected model.layers); this architecture is not supported for training yet"
        )
    return layers


def meta_model(model_path: str, attn: str, activation_checkpointing: bool) -> nn.Module:
    """The Hugging Face model skeleton on the meta device, fp32, ready to shard."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_path)
    config.use_cache = False
    with torch.device("meta"):
        lm = AutoModelForCausalLM.from_config(
            config, attn_implementation=attn, **dtype_kwarg(torch.float32)
        )
    if activation_checkpointing:
        enable_activation_checkpointing(lm)
    return lm


def enable_activation_checkpointing(lm: nn.Module) -> None:
    """Recompute each decoder layer's activations in the backward (non-reentrant checkpoint).

    transformers >= 5.23 names it `activation_checkpointing_enable` and keeps
    `gradient_checkpointing_enable` as a deprecated alias; older versions (down to this project's
    floor) have only `gradient_checkpointing_enable(gradient_checkpointing_kwargs=...)`.

    Raises:
        ConfigError: the model does not support activation checkpointing.
    """
    if not getattr(lm, "supports_gradient_checkpointing", False):
        raise ConfigError(
            f"{type(lm).__name__} does not support activation checkpointing; set train.activation_checkpointing=false"
        )
    kwargs = {"use_reentrant": False}
    if hasattr(lm, "activation_checkpointing_enable"):
        lm.activation_checkpointing_enable(kwargs)
    else:
        lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def shard(model: CausalLMLoss, mesh: Any, mixed_precision: str) -> None:
    """`fully_shard` every decoder layer, then the root (embeddings, final norm, LM head)."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if mixed_precision == "bf16"
        else MixedPrecisionPolicy()
    )
    for layer in decoder_layers(model.lm):
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)


def load_pretrained(model: CausalLMLoss, model_path: str, rank: int) -> None:
    """Fill the shards with the pretrained weights read by rank 0 only, and sync buffers.

    Non-persistent buffers (rotary inverse frequencies) are not in the state dict, so they are
    broadcast from rank 0's loaded model as well.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
    from transformers import AutoModelForCausalLM

    full: dict[str, torch.Tensor] = {}
    buffers: dict[str, torch.Tensor] = {}
    if rank == 0:
        ref = AutoModelForCausalLM.from_pretrained(model_path, dtype="auto")
        full = {PREFIX + k: v for k, v in ref.state_dict().items()}
        buffers = {PREFIX + k: v for k, v in ref.named_buffers()}
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(model, full, options=options)
    for name, buf in model.named_buffers():
        if rank == 0:
            buf.copy_(buffers[name])
        dist.broadcast(buf, src=0)


def build_sharded_model(
    model_path: str,
    mesh: Any,
    device: torch.device,
    rank: int,
    *,
    attn: str,
    mixed_precision: str,
    activation_checkpointing: bool,
) -> CausalLMLoss:
    """Meta init -> activation checkpointing -> FSDP2 -> materialize shards -> load weights."""
    model = CausalLMLoss(meta_model(model_path, attn, activation_checkpointing))
    shard(model, mesh, mixed_precision)
    model.to_empty(device=device)
    load_pretrained(model, model_path, rank)
    model.train()
    return model


def parameter_count(model: nn.Module) -> int:
    """Number of parameters of the full (unsharded) model."""
    return sum(p.numel() for p in model.parameters())
