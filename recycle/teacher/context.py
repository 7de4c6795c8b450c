"""The teacher's context length as the server reports it (vLLM's /v1/models `max_model_len`).

A request whose prompt plus max_tokens passes the server's context is refused by the server (400)
and its sample rejected; knowing the real context before the first request lets the client cut
over-long responses (and reject prompts that cannot fit) itself, with a clear reason.
"""

from __future__ import annotations

import logging

import openai

from recycle.config.teacher import TeacherConfig
from recycle.errors import ConfigError
from recycle.teacher.endpoint import endpoint_name, resolve_api_key

log = logging.getLogger(__name__)


def reported_context(cfg: TeacherConfig) -> int | None:
    """`max_model_len` of teacher.model from the endpoint's /models, or None when not reported."""
    if cfg.base_url is None:  # OpenAI does not report context lengths
        return None
    client = openai.OpenAI(
        api_key=resolve_api_key(cfg), base_url=cfg.base_url, timeout=10.0, max_retries=1
    )
    try:
        models = client.models.list()
    except openai.APIError as err:
        log.warning("could not list the teacher's models (%s); context not checked", err)
        return None
    finally:
        client.close()
    for model in models.data:
        if model.id == cfg.model:
            value = (model.model_extra or {}).get("max_model_len")
            return int(value) if isinstance(value, int) and value > 0 else None
    return None


def fit_context(cfg: TeacherConfig) -> TeacherConfig:
    """The config with context_window lowered to what the server reports, when it reports less.

    Raises:
        ConfigError: teacher.max_tokens leaves no room for a prompt in the server's context.
    """
    served = reported_context(cfg)
    if served is None or (cfg.context_window is not None and cfg.context_window <= served):
        return cfg
    if cfg.max_tokens >= served:
        raise ConfigError(
            f"the teacher at {endpoint_name(cfg.base_url)} serves {cfg.model!r} with a context of "
            f"{served} tokens; teacher.max_tokens={cfg.max_tokens} leaves no room for the prompt: "
            "lower teacher.max_tokens"
        )
    log.info(
        "teacher context: %d tokens, as the server reports (was %s)", served, cfg.context_window
    )
    return cfg.model_copy(update={"context_window": served})
