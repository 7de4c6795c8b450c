"""Config of how the student chooses between original and reflected samples."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recycle.config.base import Section


class SelectionConfig(Section):
    """Selection rule and final filter (README, Selection modes)."""

    mode: str = Field(
        default="selective",
        description="selective (default), recycle, recycle_instruction, recycle_response, "
        "ifd_topk, or a paper ablation (recycle.select.declarations lists them all; a command that "
        "selects refuses an unknown mode at start-up).",
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
    turns: Literal["all", "last"] = Field(
        default="all",
        description="Conversations: reflect every turn (all), each given the original earlier "
        "turns as context, or only the last exchange (last: one teacher pair per conversation, "
        "earlier turns kept as they are).",
    )
