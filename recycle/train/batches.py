"""Micro-batches: schedule rows -> padded tensors, and the attention inputs of each path.

A row holds one sample or several packed ones; `position_ids` restart at 0 where a sample starts,
which is all the attention paths need to keep samples apart:

- SDPA / eager (CPU, or GPU without flash-attn): an explicit block-causal mask (B, 1, T, T),
  a token attends to earlier tokens of its own sample only.
- flash-attention (GPU): the micro-batch is flattened into one (1, N) row without padding and
  the sample boundaries go to the varlen kernel as cumulative lengths.

Shapes: B rows, T padded length, N real tokens of the micro-batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from recycle import columns as C

IGNORE_INDEX = -100  # label of a position that predicts no target token

# Keys of a collated micro-batch.
INPUT_IDS, POSITION_IDS, ATTENTION_MASK, LABELS = (
    "input_ids",
    "position_ids",
    "attention_mask",
    "labels",
)


def collate_rows(rows: dict[str, np.ndarray], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a micro-batch of schedule rows into tensors.

    `labels[b, t]` is the token at t + 1 when that token is a target, else IGNORE_INDEX: the
    labels are already shifted, so position t's hidden state is scored against labels[b, t].

    Returns:
        input_ids, position_ids, attention_mask, labels: (B, T) int64; step, micro: (B,) int64.
    """
    ids_list = rows[C.INPUT_IDS]
    width = max(len(r) for r in ids_list)
    n = len(ids_list)
    ids = np.full((n, width), pad_id, dtype=np.int64)  # (B, T)
    pos = np.zeros((n, width), dtype=np.int64)  # (B, T): padding restarts at 0 on every token
    mask = np.zeros((n, width), dtype=np.int64)  # (B, T)
    labels = np.full((n, width), IGNORE_INDEX, dtype=np.int64)  # (B, T)
    for b, (row_ids, row_pos, row_tgt) in enumerate(
        zip(ids_list, rows[C.POSITION_IDS], rows[C.TARGET_MASK], strict=True)
    ):
        length = len(row_ids)
        ids[b, :length], pos[b, :length], mask[b, :length] = row_ids, row_pos, 1
        tgt = np.asarray(row_tgt, dtype=bool)
        labels[b, : length - 1] = np.where(tgt[1:], row_ids[1:], IGNORE_INDEX)
    return {
        INPUT_IDS: torch.from_numpy(ids),
        POSITION_IDS: torch.from_numpy(pos),
        ATTENTION_MASK: torch.from_numpy(mask),
        LABELS: torch.from_numpy(labels),
        C.STEP: torch.as_tensor(np.asarray(rows[C.STEP], dtype=np.int64)),
        C.MICRO: torch.as_tensor(np.asarray(rows[C.MICRO], dtype=np.int64)),
    }


def block_causal_mask(
    position_ids: torch.Tensor, additive_dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Attention mask keeping every token inside its own sample, causally.

    Args:
        position_ids: (B, T); a 0 starts a new sample (padding tokens are each their own sample,
            so no query row is fully masked).
        additive_dtype: None gives a boolean mask (True = attend, for SDPA); a float dtype gives
            an additive mask (0 / most negative value, for eager attention).

    Returns:
        (B, 1, T, T) mask.
    """
    segment = (position_ids == 0).cumsum(dim=-1)  # (B, T)
    same = segment[:, :, None] == segment[:, None, :]  # (B, T, T)
    t = position_ids.shape[-1]
    causal = torch.ones(t, t, dtype=torch.bool, device=position_ids.device).tril()  # (T, T)
    allowed = (same & causal)[:, None]  # (B, 1, T, T)
    if additive_dtype is None:
        return allowed
    zero = torch.zeros((), dtype=additive_dtype, device=position_ids.device)
    return torch.where(allowed, zero, torch.finfo(additive_dtype).min)


def flatten_varlen(
    batch: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """One (1, N) row of the micro-batch's real tokens and the varlen kwargs of flash-attention.

    Returns:
        ({input_ids, position_ids, labels}: (1, N) each, {cu_seq_lens_q/k: (S + 1,) int32,
        max_length_q/k: int}) for S samples.
    """
    keep = batch[ATTENTION_MASK].bool()  # (B, T)
    flat = {k: batch[k][keep][None] for k in (INPUT_IDS, POSITION_IDS, LABELS)}  # (1, N)
    pos = flat[POSITION_IDS][0]  # (N,)
    starts = torch.nonzero(pos == 0).flatten()  # (S,)
    total = torch.tensor([pos.numel()], device=pos.device)
    cu = torch.cat([starts, total]).to(torch.int32)  # (S + 1,)
    longest = int(cu.diff().max())
    return flat, {
        "cu_seq_lens_q": cu,
        "cu_seq_lens_k": cu,
        "max_length_q": longest,
        "max_length_k": longest,
    }


def count_targets(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Number of target tokens of a micro-batch, a 0-d int64 tensor."""
    return (batch[LABELS] != IGNORE_INDEX).sum()
