"""Config of how the student chooses between original and reflected samples."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recycle.config.base import Section

SelectionMode = Literal[
    "selective", "recycle", "ifd_topk", "random", "coherence", "perplexity", "ifd_only", "rifd_only"
]


class SelectionConfig(Section):
    """Selection rule and final filter (DESIGN §1)."""

    mode: SelectionMode = Field(
        default="selective",
        description="selective (default), recycle, ifd_topk, or a paper ablation.",
    )
    require_response_reflected: bool = Field(
        default=True,
        description="Keep only samples whose response was reflected (the authors' filter).",
    )
    require_ifd_below_one: bool = Field(
        default=True, description="Keep only samples with IFD(x2, y2) < 1."
    )
    require_rifd_below_one: bool = Field(
        default=True, description="Keep only samples with r-IFD(x2, y2) < 1."
    )
    topk_percent: float | None = Field(
        default=None, gt=0.0, le=100.0, description="ifd_topk: keep the top k% by IFD."
    )
    topk_n: int | None = Field(default=None, ge=1, description="ifd_topk: keep the top N by IFD.")
    seed: int = Field(default=0, description="Seed of the random ablation.")
