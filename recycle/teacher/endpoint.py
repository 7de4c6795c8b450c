"""Where the teacher is and how to reach it: the API key, a printable endpoint name, an openai client."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import openai

from recycle.config.teacher import TeacherConfig, is_openai
from recycle.teacher import errors

DUMMY_KEY = "EMPTY"  # what keyless OpenAI-compatible servers (vLLM, Ollama, tests) accept


def resolve_api_key(cfg: TeacherConfig) -> str:
    """The key from the environment variable `cfg.api_key_env`; a dummy one for keyless servers.

    Raises:
        TeacherAuthError: the endpoint is OpenAI and the variable is not set.
    """
    key = os.environ.get(cfg.api_key_env)
    if key:
        return key
    if is_openai(cfg.base_url):
        raise errors.TeacherAuthError(
            f"the teacher is OpenAI but the environment variable {cfg.api_key_env} is not set; export it "
            "where the driver and the Ray workers run (teacher.api_key_env names another variable)"
        )
    return DUMMY_KEY


def endpoint_name(base_url: str | None) -> str:
    """The endpoint as it may be shown: the URL without credentials, or "OpenAI"."""
    url = urlparse(base_url) if base_url else None
    if url is None or not url.hostname:
        return base_url or "OpenAI"
    return url._replace(netloc=url.hostname + (f":{url.port}" if url.port else "")).geturl()


def open_client(cfg: TeacherConfig) -> openai.AsyncOpenAI:
    """An async openai client for the teacher; retries are the TeacherClient's, not the library's."""
    return openai.AsyncOpenAI(
        api_key=resolve_api_key(cfg), base_url=cfg.base_url, timeout=cfg.timeout_s, max_retries=0
    )
