"""The seam under the teacher: a backend answers one chat request; everything else sits above it.

    TeacherClient (recycle/teacher/client.py): cache, budget and rate gate, circuit breaker,
        retries, accounting, rejects; parse retries in recycle/teacher/core.py
      └── Backend.send(key, body) -> Reply          (this protocol)
            online: one chat completion per request (recycle/teacher/online.py)
            batch:  requests gathered into OpenAI Batch API jobs (recycle/teacher/batch.py)

A backend makes ONE attempt: it returns a `Reply` or raises `SendFailure` with a kind the client
knows (`KINDS`). Retrying, waiting out an outage and rejecting belong to the client, so every
backend gets them for free. Adding a backend: one module with a class taking
(cfg, journal_dir, client, board) and an entry in `BACKENDS`, plus the `teacher.backend` literal.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from recycle.config.teacher import TeacherConfig

# Failure kinds (they name the manifest's error counters, as error_<kind>).
TIMEOUT = "timeout"
CONNECTION = "connection"
SERVER_ERROR = "server_error"
RATE_LIMITED = "rate_limited"
EXPIRED = "expired"  # a batch ended (expired, cancelled) before answering this request
UNAUTHORIZED = "unauthorized"
NOT_FOUND = "not_found"
BAD_REQUEST = "bad_request"
INVALID_BATCH = "invalid_batch"  # the server refused a whole batch file: the job stops
TRANSIENT = frozenset({TIMEOUT, CONNECTION, SERVER_ERROR, RATE_LIMITED, EXPIRED})
KINDS = TRANSIENT | {UNAUTHORIZED, NOT_FOUND, BAD_REQUEST, INVALID_BATCH}

BACKENDS = {
    "online": "recycle.teacher.online:OnlineBackend",
    "batch": "recycle.teacher.batch:BatchBackend",
}


@dataclass(frozen=True)
class Reply:
    """One answer as the endpoint gave it; token counts are None when it did not report usage."""

    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


class SendFailure(Exception):
    """One attempt failed.

    Args:
        kind: one of KINDS.
        message: the endpoint's words (short, never a key).
        status: HTTP status when there was one.
        retry_after_s: what the endpoint asked to wait, when it said.
        endpoint_ok: the endpoint itself answered (a per-request error inside a finished batch):
            the job's circuit breaker must not count it as a sign of an outage.
        reached: the request got to the endpoint; False when no connection was made (refused,
            unreachable, timed out connecting): nothing was sent, nothing can have been paid.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        status: int | None = None,
        retry_after_s: float | None = None,
        endpoint_ok: bool = False,
        reached: bool = True,
    ):
        if kind not in KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; known: {sorted(KINDS)}")
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status
        self.retry_after_s, self.endpoint_ok, self.reached = retry_after_s, endpoint_ok, reached

    @property
    def transient(self) -> bool:
        """Worth another attempt."""
        return self.kind in TRANSIENT


class Backend(Protocol):
    """Answers chat requests. `key` identifies the request (the answer cache's key, a content hash)."""

    max_in_flight: int | None  # requests one client may have waiting at once; None: unbounded

    async def send(self, key: str, body: dict[str, Any]) -> Reply: ...

    async def reachable(self) -> bool:
        """Whether the endpoint answers a cheap request of its own (the circuit's second opinion
        when the probe request itself fails with a server error)."""
        ...

    def status(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


def make_backend(
    cfg: TeacherConfig, journal_dir: str | None, client: Any = None, board: Any = None
) -> Backend:
    """The backend named by `teacher.backend`.

    Args:
        cfg: the teacher config.
        journal_dir: where the backend may keep what a rerun needs (beside the answer cache).
        client: an openai.AsyncOpenAI to use (tests); None opens one.
        board: the job's gate, for backends that report progress (`batch_event`).
    """
    module, _, name = BACKENDS[cfg.backend].partition(":")
    return getattr(importlib.import_module(module), name)(cfg, journal_dir, client, board)
