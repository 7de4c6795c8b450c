"""The student as a training module: built on the meta device, sharded with FSDP2, loaded once.

Every worker builds the model skeleton on the meta device (no memory, no weights), applies
activation checkpointing, `fully_shard`s each decoder layer and then the root over the device
mesh (1-D, or 2-D HSDP when the workers span nodes: `build_mesh`), and materializes only its
own shards. Rank 0 alone reads the pretrained weights and they
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

from recycle.config.student import FLASH
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


def resolve_attn(requested: str, use_gpu: bool, mixed_precision: str) -> str:
    """The attention implementation to build: flash-attention on GPU in bf16 when installed, else SDPA.

    Raises:
        ConfigError: flash_attention_2 was asked for with train.mixed_precision=fp32.
    """
    half = mixed_precision == "bf16"
    if requested == FLASH and not half:
        raise ConfigError(
            "train.attn_implementation=flash_attention_2 with train.mixed_precision=fp32: "
            "flash-attention computes in bf16/fp16 only; set train.mixed_precision=bf16, or "
            "train.attn_implementation=sdpa (or auto) to train in fp32"
        )
    if requested != "auto":
        return requested
    if not (use_gpu and half):
        return "sdpa"
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        log.warning("flash-attn is not installed: using SDPA with an explicit block mask")
        return "sdpa"
    return FLASH


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


DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def precision_policy(mixed_precision: str, reduce_dtype: str = "fp32") -> Any:
    """FSDP2 policy: parameters in compute (bf16 or fp32) and the gradient reduction dtype."""
    from torch.distributed.fsdp import MixedPrecisionPolicy

    param = torch.bfloat16 if mixed_precision == "bf16" else None  # None: as stored (fp32)
    return MixedPrecisionPolicy(param_dtype=param, reduce_dtype=DTYPES[reduce_dtype])


def shard(model: CausalLMLoss, mesh: Any, mixed_precision: str, reduce_dtype: str = "fp32") -> None:
    """`fully_shard` every decoder layer, then the root (embeddings, final norm, LM head).

    A 1-D mesh shards over every worker (FSDP); a 2-D ("replicate", "shard") mesh shards within
    a node and replicates across nodes (HSDP), so parameter all-gathers stay inside the node.
    """
    from torch.distributed.fsdp import fully_shard

    policy = precision_policy(mixed_precision, reduce_dtype)
    for layer in decoder_layers(model.lm):
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)


def mesh_shape(node_of_rank: list[int], kind: str = "auto") -> tuple[int, ...]:
    """Device mesh shape from the node of every rank (index = world rank).

    (replicas, shard) when the ranks span several nodes with the same count on each, and each
    node's ranks are contiguous (shard groups are then exactly the nodes); else (world,).
    """
    world = len(node_of_rank)
    nodes = sorted(set(node_of_rank))
    per_node = world // len(nodes)
    contiguous = all(node_of_rank[r] == node_of_rank[r - r % per_node] for r in range(world))
    same_count = all(node_of_rank.count(n) == per_node for n in nodes)
    if kind == "auto" and len(nodes) > 1 and same_count and contiguous and per_node > 1:
        return (len(nodes), per_node)
    return (world,)


def build_mesh(device_type: str, node_rank: int, kind: str = "auto") -> Any:
    """The training device mesh (collective: every rank calls it with its node rank)."""
    from torch.distributed.device_mesh import init_device_mesh

    nodes: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(nodes, node_rank)
    shape = mesh_shape([int(n) for n in nodes], kind)
    names = ("replicate", "shard") if len(shape) == 2 else ("shard",)
    if kind == "auto" and len(shape) == 1 and len(set(nodes)) > 1 and dist.get_rank() == 0:
        log.warning(
            "the workers span %d nodes (node of each rank: %s) but not as HSDP needs (the same "
            "number, >1, of workers on every node, contiguous ranks): sharding over all of them, "
            "so every all-gather crosses nodes",
            len(set(nodes)),
            nodes,
        )
    if dist.get_rank() == 0:
        log.info(
            "device mesh %s %s",
            dict(zip(names, shape, strict=True)),
            "(HSDP)" if len(shape) == 2 else "(FSDP)",
        )
    return init_device_mesh(device_type, shape, mesh_dim_names=names)


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
    reduce_dtype: str = "fp32",
) -> CausalLMLoss:
    """Meta init -> activation checkpointing -> FSDP2 -> materialize shards -> load weights."""
    model = CausalLMLoss(meta_model(model_path, attn, activation_checkpointing))
    shard(model, mesh, mixed_precision, reduce_dtype)
    model.to_empty(device=device)
    load_pretrained(model, model_path, rank)
    model.train()
    return model


def parameter_count(model: nn.Module) -> int:
    """Number of parameters of the full (unsharded) model."""
    return sum(p.numel() for p in model.parameters())
