"""Config of how the student chooses between original and reflected samples."""

from __future__ import annotations

from pydantic import Field, field_validator

from recycle.config.base import Section


class SelectionConfig(Section):
    """Selection rule and final filter (DESIGN §1)."""

    mode: str = Field(
        default="selective",
        description="selective (default), recycle, recycle_instruction, recycle_response, "
        "ifd_topk, or a paper ablation (recycle.select.declarations lists them all).",
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

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        # imported here: recycle.select imports this module
        from recycle.select.declarations import mode_names

        if value not in mode_names():
            raise ValueError(f"unknown mode {value!r}; use one of {', '.join(mode_names())}")
        return value
