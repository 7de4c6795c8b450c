"""Calls for a whole Batch API file (upload, create, download), retried while the endpoint fails:
capped exponential backoff with full jitter, Retry-After honoured (teacher.limits.backoff_delay)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import openai

from recycle.config.teacher import TeacherConfig
from recycle.teacher.limits import backoff_delay
from recycle.teacher.online import failure_of

log = logging.getLogger(__name__)


async def retrying(
    call: Callable[..., Awaitable[Any]],
    cfg: TeacherConfig,
    rng: random.Random,
    on_retry: Callable[[], None],
    **kwargs: Any,
) -> Any:
    """`call(**kwargs)`, retried on transient errors with backoff (`on_retry` counts each retry).

    Raises:
        openai.APIError: a final error, or the last one after teacher.max_retries retries.
    """
    for retry in range(cfg.max_retries + 1):
        try:
            return await call(**kwargs)
        except openai.APIError as err:
            failure = failure_of(err)
            if not failure.transient or retry == cfg.max_retries:
                raise
            on_retry()
            log.warning("batch call failed (%s); retrying", failure.message)
            delay = backoff_delay(
                retry, cfg.backoff_base_s, cfg.backoff_max_s, failure.retry_after_s, rng
            )
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
