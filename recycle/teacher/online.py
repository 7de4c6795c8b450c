"""The online backend: one chat completion per request (OpenAI's or any compatible server's)."""

from __future__ import annotations

from typing import Any

import openai

from recycle.config.teacher import TeacherConfig
from recycle.teacher import backend as teacher_backend
from recycle.teacher.endpoint import open_client
from recycle.teacher.limits import retry_after_seconds

RETRIED_STATUS = {408, 409}  # plus 429 and every 5xx


class OnlineBackend:
    """`chat.completions.create`, one attempt per `send`; `cfg.concurrency` in flight per client."""

    def __init__(
        self, cfg: TeacherConfig, journal_dir: str | None, client: Any = None, board: Any = None
    ):
        self.cfg = cfg
        self.client = client or open_client(cfg)
        self.max_in_flight = cfg.concurrency

    async def send(self, key: str, body: dict[str, Any]) -> teacher_backend.Reply:
        """One chat completion."""
        try:
            response = await self.client.chat.completions.create(**body)
        except openai.APIError as err:
            raise failure_of(err) from None
        return reply_of(response)

    async def reachable(self) -> bool:
        """`GET /models` answers: the server is up, whatever a given request gets back."""
        try:
            await self.client.models.list(timeout=self.cfg.timeout_s)
        except openai.APIError:
            return False
        return True

    def status(self) -> dict[str, Any]:
        """Nothing to show beyond the gate's counters."""
        return {}

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.client.close()


def reply_of(response: Any) -> teacher_backend.Reply:
    """A Reply from a ChatCompletion object."""
    choice = response.choices[0] if response.choices else None
    usage = response.usage
    return teacher_backend.Reply(
        text=(choice.message.content if choice is not None else None) or "",
        finish_reason=choice.finish_reason if choice is not None else None,
        prompt_tokens=(usage.prompt_tokens or 0) if usage is not None else None,
        completion_tokens=(usage.completion_tokens or 0) if usage is not None else None,
    )


def failure_of(err: openai.APIError) -> teacher_backend.SendFailure:
    """The SendFailure of an openai error."""
    kind, status = classify(err)
    headers = err.response.headers if isinstance(err, openai.APIStatusError) else None
    return teacher_backend.SendFailure(
        kind, short(err), status, retry_after_seconds(headers), reached=reached(err)
    )


NOT_CONNECTED = {"ConnectError", "ConnectTimeout"}  # httpx's (httpx2's, as openai 3 uses) errors


def reached(err: openai.APIError) -> bool:
    """Whether the request got to the endpoint: not when its connection was never made (openai
    raises its connection and timeout errors from its HTTP library's, httpx or httpx2)."""
    cause = err.__cause__
    return cause is None or not NOT_CONNECTED & {c.__name__ for c in type(cause).__mro__}


def classify(err: openai.APIError) -> tuple[str, int | None]:
    """(kind, HTTP status) of a failed request."""
    if isinstance(err, openai.APITimeoutError):
        return teacher_backend.TIMEOUT, None
    if isinstance(err, openai.APIConnectionError):
        return teacher_backend.CONNECTION, None
    if not isinstance(err, openai.APIStatusError):
        return teacher_backend.SERVER_ERROR, None  # an unparseable 200 body: transient, retried
    return kind_of_status(err.status_code), err.status_code


def kind_of_status(status: int) -> str:
    """The failure kind of an HTTP status."""
    if status in (401, 403):
        return teacher_backend.UNAUTHORIZED
    if status == 404:
        return teacher_backend.NOT_FOUND
    if status == 429:
        return teacher_backend.RATE_LIMITED
    if status >= 500 or status in RETRIED_STATUS:
        return teacher_backend.SERVER_ERROR
    return teacher_backend.BAD_REQUEST


def short(err: BaseException | str, limit: int = 300) -> str:
    """One line of at most `limit` characters."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
