"""Config of the student model that scores (and later is fine-tuned on) the data."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recycle.config.base import Section

TemplateName = Literal["vicuna", "alpaca", "wizardlm", "chat"]


class StudentConfig(Section):
    """The student: a Hugging Face causal LM loaded from a local path or a hub id."""

    model: str | None = Field(default=None, description="Local path or hub id of the student model.")
    template: TemplateName = Field(default="vicuna", description="Prompt template; 'chat' uses the tokenizer's chat template. Scoring and training use the same one.")
    max_length: int = Field(default=2048, ge=8, description="Longest sequence scored; longer targets are cut at their end.")
