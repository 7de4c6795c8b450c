"""Score rows: plan the sequence pairs, compute every unique sequence once, assemble the columns.

This is the pure core behind `StudentScorer`; it takes a loaded model and tokenizer and plain
columns (a dict of lists, or a pandas DataFrame), so a notebook can call it directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from recycle import columns as C
from recycle.config.student import StudentConfig
from recycle.student.batching import ForwardStats, score_sequences
from recycle.student.losses import ratio_score
from recycle.student.model import resolve_batch_tokens
from recycle.student.planning import IFD_KIND, RIFD_KIND, PairJob, plan_pairs
from recycle.student.sequences import pad_token_id
from recycle.student.variants import FLOAT_COLUMNS, INT_COLUMNS, Variant, check_variants

NOT_SCORED = "not_scored"
NOT_NEEDED = (
    "not_needed"  # a gated IFD whose pair cannot be chosen (Variant.ifd_only_if_rifd_below)
)
# (conditional loss, unconditional loss, score, token count) columns of each kind of pair.
KIND_COLUMNS = {
    IFD_KIND: (C.LOSS_Y_GIVEN_X, C.LOSS_Y, C.IFD, C.Y_TOKENS),
    RIFD_KIND: (C.LOSS_X_GIVEN_Y, C.LOSS_X, C.RIFD, C.X_TOKENS),
}


def empty_outputs(
    variants: Sequence[Variant], n_rows: int, rows: Sequence[int]
) -> dict[str, list[Any]]:
    """Output columns before scoring: NaN scores, 0 tokens, and `not_scored` for rows not asked for."""
    asked = set(rows)
    out: dict[str, list[Any]] = {}
    for v in variants:
        for base in (b.removeprefix(v.prefix) for b in v.writes):
            col = v.column(base)
            if base in FLOAT_COLUMNS:
                out[col] = [math.nan] * n_rows
            elif base in INT_COLUMNS:
                out[col] = [0] * n_rows
            elif base == C.SCORE_TRUNCATED:
                out[col] = [False] * n_rows
            else:
                out[col] = [
                    "" if r in asked else f"{NOT_SCORED}: row outcome is not kept"
                    for r in range(n_rows)
                ]
    return out


def error_reasons(error: str) -> list[str]:
    """Reason categories in a score_error text.

    "ifd: empty_target: ...; rifd: no_room_for_target: ..." -> ["empty_target", "no_room_for_target"];
    "not_scored: ..." -> ["not_scored"].
    """
    parts = [p.split(": ") for p in error.split("; ")] if error else []
    return [p[1] if len(p) > 2 else p[0] for p in parts]


def _append_error(out: dict[str, list[Any]], v: Variant, row: int, text: str) -> None:
    col = v.column(C.SCORE_ERROR)
    out[col][row] = f"{out[col][row]}; {text}" if out[col][row] else text


def _fill(
    out: dict[str, list[Any]], v: Variant, job: PairJob, cond_loss: float, uncond_loss: float
) -> None:
    cond_col, uncond_col, score_col, tokens_col = (v.column(b) for b in KIND_COLUMNS[job.kind])
    r = job.row
    if job.cond.error:
        reason = job.cond.error
    else:
        out[cond_col][r], out[uncond_col][r] = cond_loss, uncond_loss
        out[tokens_col][r] = job.cond.n_target
        out[score_col][r], reason = ratio_score(cond_loss, uncond_loss)
    out[v.column(C.SCORE_TRUNCATED)][r] |= job.cond.truncated
    if reason:
        _append_error(out, v, r, f"{job.kind}: {reason}")


def _score_jobs(
    model: Any,
    tokenizer: Any,
    cfg: StudentConfig,
    jobs: list[PairJob],
    variants: Sequence[Variant],
    out: dict[str, list[Any]],
) -> ForwardStats:
    """Compute the jobs' unique sequences in packed micro-batches and fill their output cells."""
    live = [j for j in jobs if not j.cond.error]
    seqs = [s for j in live for s in (j.cond, j.uncond)]
    losses, stats = [], ForwardStats()
    if seqs:
        losses, stats = score_sequences(
            model,
            seqs,
            pad_token_id(tokenizer),
            resolve_batch_tokens(cfg, model.device.type),
            cfg.logit_chunk_tokens,
        )
    by_job = {id(j): (losses[2 * i], losses[2 * i + 1]) for i, j in enumerate(live)}
    for job in jobs:
        cond_loss, uncond_loss = by_job.get(id(job), (math.nan, math.nan))
        _fill(out, variants[job.variant], job, cond_loss, uncond_loss)
    return stats


def _carried_losses(
    columns: Mapping[str, Sequence[Any]], variants: Sequence[Variant], job: PairJob
) -> tuple[float, float] | None:
    """The r-IFD losses this job's row already holds (Variant.rifd_where_missing), else None."""
    v = variants[job.variant]
    if job.kind != RIFD_KIND or not v.rifd_where_missing or job.cond.error:
        return None
    cols = [columns.get(c) for c in v.carried]
    if any(c is None for c in cols):
        return None
    cond, uncond = (_as_float(c[job.row]) for c in cols)
    return (cond, uncond) if math.isfinite(cond) and math.isfinite(uncond) else None


def _as_float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _is_gated(variants: Sequence[Variant], job: PairJob) -> bool:
    return job.kind == IFD_KIND and variants[job.variant].ifd_only_if_rifd_below is not None


def _gate_open(out: dict[str, list[Any]], variants: Sequence[Variant], job: PairJob) -> bool:
    """The variant's r-IFD is below the gate variant's on this row (a NaN never is)."""
    v = variants[job.variant]
    return out[v.column(C.RIFD)][job.row] < out[f"{v.ifd_only_if_rifd_below}{C.RIFD}"][job.row]


def _skip(out: dict[str, list[Any]], v: Variant, job: PairJob) -> None:
    gate = v.ifd_only_if_rifd_below
    _append_error(
        out,
        v,
        job.row,
        f"{IFD_KIND}: {NOT_NEEDED}: r-IFD not below {gate}'s, so this pair is not chosen",
    )


def score_columns(
    model: Any,
    tokenizer: Any,
    columns: Mapping[str, Sequence[Any]],
    variants: Sequence[Variant],
    cfg: StudentConfig,
    rows: Sequence[int] | None = None,
) -> tuple[dict[str, list[Any]], ForwardStats]:
    """Losses, IFD / r-IFD, token counts and errors of `rows` (default: all) for every variant.

    IFD pairs of a variant with `ifd_only_if_rifd_below` are computed in a second round, only on
    the rows where its r-IFD (from the first round) is below the gate variant's. r-IFD pairs of a
    variant with `rifd_where_missing` reuse the losses `columns` already hold for that row.

    Args:
        model: the loaded student (eval mode).
        tokenizer: its tokenizer.
        columns: column name -> values; must hold every column the variants read (and may hold
            the columns they carry, `Variant.carried`).
        variants: what to score (see recycle.student.variants).
        cfg: template, max_length, batch_tokens and logit_chunk_tokens are used.
        rows: positions of the rows to score; the others get NaN and a `not_scored` error.

    Returns:
        the output columns (full length, one entry per input row) and the forward cost.
    """
    variants = check_variants(variants)
    n_rows = len(next(iter(columns.values()))) if columns else 0
    rows = list(range(n_rows)) if rows is None else list(rows)
    jobs = plan_pairs(tokenizer, cfg.template, cfg.max_length, columns, variants, rows)
    out = empty_outputs(variants, n_rows, rows)
    carried = {id(j): _carried_losses(columns, variants, j) for j in jobs}
    for job in jobs:
        if carried[id(job)] is not None:
            _fill(out, variants[job.variant], job, *carried[id(job)])
    jobs = [j for j in jobs if carried[id(j)] is None]
    stats = _score_jobs(
        model, tokenizer, cfg, [j for j in jobs if not _is_gated(variants, j)], variants, out
    )
    gated = [j for j in jobs if _is_gated(variants, j)]
    for job in gated:
        if not _gate_open(out, variants, job):
            _skip(out, variants[job.variant], job)
    stats.add(
        _score_jobs(
            model, tokenizer, cfg, [j for j in gated if _gate_open(out, variants, j)], variants, out
        )
    )
    return out, stats
