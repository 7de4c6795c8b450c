"""Config of the teacher LLM (an OpenAI-compatible endpoint)."""

from __future__ import annotations

from pydantic import Field

from recycle.config.base import Section


class TeacherConfig(Section):
    """The teacher: which endpoint, which model, how hard to push it, and how much to spend."""

    base_url: str | None = Field(default=None, description="OpenAI-compatible base URL (vLLM, SGLang, Ollama...); None is OpenAI.")
    model: str = Field(default="gpt-4o-mini", description="Teacher model name as the endpoint knows it.")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="Name of the environment variable holding the API key. The key itself never goes in a config.")
    cache_dir: str | None = Field(default=None, description="Durable cache of teacher answers; None puts it under output.dir/teacher_cache.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=2048, ge=1)
