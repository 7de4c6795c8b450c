"""Tensor core of student scoring: per-sequence mean NLL over target positions, IFD and r-IFD.

Only the hidden states that predict a target token are projected onto the vocabulary: prompt
positions never become (B, T, V) logits. Shapes: B sequences, T padded length, H hidden size,
V vocabulary, N target positions in the micro-batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from recycle.student.sequences import TokenSequence

NON_FINITE = "non_finite_loss"
MAX_LOG_RATIO = math.log(1.7e308)  # exp() of more overflows a float


def pad_right(
    seqs: Sequence[TokenSequence], pad_id: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and attention mask of a micro-batch.

    Returns:
        input_ids (B, T) and attention_mask (B, T) with 1 on real tokens, 0 on padding.
    """
    width = max(len(s.input_ids) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)  # (B, T)
    for b, s in enumerate(seqs):
        ids[b, : len(s.input_ids)] = torch.tensor(s.input_ids, dtype=torch.long)
        mask[b, : len(s.input_ids)] = 1
    return ids.to(device), mask.to(device)


def target_positions(
    seqs: Sequence[TokenSequence], device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, position) of every hidden state that predicts a target token.

    Position p predicts token p + 1, so sequence b contributes positions
    target_start - 1 .. len - 2.

    Returns:
        rows (N,) and positions (N,), in sequence order.
    """
    rows, pos = [], []
    for b, s in enumerate(seqs):
        if s.target_start < 1 or s.n_target < 1:
            raise ValueError(
                f"sequence {b} has no scoreable target (target_start={s.target_start}, n_target={s.n_target})"
            )
        rows.append(torch.full((s.n_target,), b, dtype=torch.long))
        pos.append(torch.arange(s.target_start - 1, len(s.input_ids) - 1, dtype=torch.long))
    return torch.cat(rows).to(device), torch.cat(pos).to(device)


def token_nll(
    head: torch.nn.Module,
    hidden: torch.Tensor,
    targets: torch.Tensor,
    chunk: int,
    softcap: float | None = None,
) -> torch.Tensor:
    """NLL of each target token from the hidden states that predict it, projected `chunk` at a time.

    Args:
        head: the LM head (hidden -> vocabulary logits).
        hidden: (N, H) hidden states at target-predicting positions.
        targets: (N,) target token ids.
        chunk: most positions projected at once; bounds the (chunk, V) logits in memory.
        softcap: final logit soft-capping of the model (Gemma 2), None when it has none.

    Returns:
        (N,) float32 negative log-likelihoods.
    """
    out = []
    for start in range(0, hidden.shape[0], chunk):
        logits = head(hidden[start : start + chunk]).float()  # (n, V)
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        tgt = targets[start : start + chunk]  # (n,)
        out.append(
            torch.logsumexp(logits, dim=-1) - logits.gather(1, tgt[:, None]).squeeze(1)
        )  # (n,)
    return torch.cat(out)


@torch.inference_mode()
def mean_target_nll(
    model: Any, seqs: Sequence[TokenSequence], pad_id: int, chunk: int = 4096
) -> torch.Tensor:
    """Per-sequence mean NLL over target positions, with one forward for the whole micro-batch.

    Args:
        model: a Hugging Face causal LM (`base_model` gives hidden states, the output embeddings
            are the LM head).
        seqs: sequences that each have at least one target token.
        pad_id: id written on padded positions (masked out, never scored).
        chunk: most target positions projected onto the vocabulary at once.

    Returns:
        (B,) float32 mean NLL of each sequence, on the CPU.
    """
    device = model.device
    ids, mask = pad_right(seqs, pad_id, device)  # (B, T), (B, T)
    rows, pos = target_positions(seqs, device)  # (N,), (N,)
    # no KV cache: one forward scores the sequence (the cache of a 16k-token micro-batch of a 7B
    # model would be ~8 GiB of GPU memory; on CPU building it costs 12-18% of the scoring time)
    out = model.base_model(input_ids=ids, attention_mask=mask, use_cache=False)
    hidden = out.last_hidden_state  # (B, T, H)
    picked = hidden[rows, pos]  # (N, H): only target-predicting positions
    targets = ids[rows, pos + 1]  # (N,)
    softcap = getattr(model.config, "final_logit_softcapping", None)
    nll = token_nll(model.get_output_embeddings(), picked, targets, chunk, softcap)  # (N,)
    sums = torch.zeros(len(seqs), dtype=torch.float32, device=device).index_add_(
        0, rows, nll
    )  # (B,)
    counts = torch.tensor([s.n_target for s in seqs], dtype=torch.float32, device=device)  # (B,)
    return (sums / counts).cpu()


@torch.inference_mode()
def span_mean_nll(
    model: Any,
    seqs: Sequence[TokenSequence],
    spans: Sequence[Sequence[tuple[int, int]]],
    pad_id: int,
    chunk: int = 4096,
) -> torch.Tensor:
    """Mean NLL of each target span of each sequence, with one forward for the whole micro-batch.

    A conversation's answers are several spans of one sequence: a causal model's loss on the
    tokens of span k sees exactly the tokens before it, so one forward scores every turn.

    Args:
        model: a Hugging Face causal LM, as for `mean_target_nll`.
        seqs: the sequences (only their `input_ids` are read).
        spans: for each sequence, (start, end) token ranges of its targets, each with
            1 <= start < end <= len(input_ids).
        pad_id: id written on padded positions (masked out, never scored).
        chunk: most target positions projected onto the vocabulary at once.

    Returns:
        (S,) float32 mean NLL of every span, sequence by sequence, in order; on the CPU.
    """
    device = model.device
    ids, mask = pad_right(seqs, pad_id, device)  # (B, T), (B, T)
    rows, pos, seg, counts = [], [], [], []
    for b, row_spans in enumerate(spans):
        for start, end in row_spans:
            if not 1 <= start < end <= len(seqs[b].input_ids):
                raise ValueError(f"sequence {b}: span ({start}, {end}) holds no scoreable target")
            rows += [b] * (end - start)
            pos += range(start - 1, end - 1)  # position p predicts token p + 1
            seg += [len(counts)] * (end - start)
            counts.append(end - start)
    rows_t, pos_t = torch.tensor(rows, device=device), torch.tensor(pos, device=device)  # (N,)
    out = model.base_model(input_ids=ids, attention_mask=mask, use_cache=False)
    picked = out.last_hidden_state[rows_t, pos_t]  # (N, H)
    targets = ids[rows_t, pos_t + 1]  # (N,)
    softcap = getattr(model.config, "final_logit_softcapping", None)
    nll = token_nll(model.get_output_embeddings(), picked, targets, chunk, softcap)  # (N,)
    sums = torch.zeros(len(counts), dtype=torch.float32, device=device).index_add_(
        0, torch.tensor(seg, device=device), nll
    )  # (S,)
    return (sums / torch.tensor(counts, dtype=torch.float32, device=device)).cpu()


def ratio_score(conditional: float, unconditional: float) -> tuple[float, str]:
    """exp(conditional - unconditional): IFD from (loss_y_given_x, loss_y), r-IFD from (loss_x_given_y, loss_x).

    Returns:
        (score, "") or (NaN, reason) when a loss is not finite or the ratio overflows; never a 0
        or an infinity for a bad sample.
    """
    for name, value in (("conditional", conditional), ("unconditional", unconditional)):
        if not math.isfinite(value):
            return math.nan, f"{NON_FINITE}: the {name} loss is {value}"
    diff = conditional - unconditional
    if diff > MAX_LOG_RATIO:
        return math.nan, f"{NON_FINITE}: exp({conditional:.4g} - {unconditional:.4g}) overflows"
    return math.exp(diff), ""
