"""The pure async core of the teacher: one chat completion, with cache, gate, retries and accounting.

`TeacherClient.complete(prompt, ...)` returns the teacher's text or raises:
`SampleRejected` (this sample cannot be done: 400, retries exhausted, budget), or
`TeacherAuthError` / `TeacherEndpointError` (nothing can be done: the job stops), or
`TeacherOutageError` (the endpoint has not answered for teacher.max_outage_s: the job stops).

Transient failures (timeouts, dropped connections, 429, 5xx) are reported to the job's gate,
whose circuit (recycle/teacher/circuit.py) decides: while the endpoint looks healthy a failure
spends one of the request's retries; while it looks unreachable the request waits, retries intact.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
from dataclasses import dataclass
from urllib.parse import urlparse

import openai

from recycle.config.teacher import TeacherConfig
from recycle.prompts import ChatPrompt
from recycle.teacher import errors as E
from recycle.teacher import ledger as L
from recycle.teacher.cache import AnswerCache, CachedAnswer, cache_key
from recycle.teacher.circuit import Admission
from recycle.teacher.gate import Gate
from recycle.teacher.limits import backoff_delay, retry_after_seconds

log = logging.getLogger(__name__)

DUMMY_KEY = "EMPTY"  # what keyless OpenAI-compatible servers (vLLM, Ollama, tests) accept
RETRIED_STATUS = {408, 409}  # plus 429 and every 5xx
MESSAGE_OVERHEAD_TOKENS = 4  # per chat message: role and separators
TRANSIENT_KINDS = {"timeout", "connection", "server_error", "rate_limited"}  # see _classify


@dataclass(frozen=True)
class Completion:
    """A teacher answer and where it came from."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool


def is_openai(base_url: str | None) -> bool:
    """True when requests go to OpenAI itself (which needs a key)."""
    return base_url is None or (urlparse(base_url).hostname or "").endswith("openai.com")


def resolve_api_key(cfg: TeacherConfig) -> str:
    """The key from the environment variable `cfg.api_key_env`; a dummy one for keyless servers.

    Raises:
        TeacherAuthError: the endpoint is OpenAI and the variable is not set.
    """
    key = os.environ.get(cfg.api_key_env)
    if key:
        return key
    if is_openai(cfg.base_url):
        raise E.TeacherAuthError(
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


def estimate_tokens(messages: list[dict[str, str]], chars_per_token: float) -> int:
    """Upper-bound-ish prompt length without the teacher's tokenizer."""
    chars = sum(len(m.get("content") or "") for m in messages)
    return math.ceil(chars / chars_per_token) + MESSAGE_OVERHEAD_TOKENS * len(messages)


class TeacherClient:
    """One chat completion at a time per call, many calls at once, at most `cfg.concurrency` in flight."""

    def __init__(
        self,
        cfg: TeacherConfig,
        gate: Gate,
        cache: AnswerCache | None,
        client: openai.AsyncOpenAI | None = None,
        rng: random.Random | None = None,
    ):
        self.cfg = cfg
        self.gate = gate
        self.cache = cache
        self.client = client or openai.AsyncOpenAI(
            api_key=resolve_api_key(cfg),
            base_url=cfg.base_url,
            timeout=cfg.timeout_s,
            max_retries=0,
        )
        self._slots = asyncio.Semaphore(cfg.concurrency)
        self._rng = rng or random.Random()

    def sampling(self, max_tokens: int, attempt: int) -> dict[str, float | int]:
        """Sampling parameters of an attempt: the paper's, warmer when re-asking after a bad format."""
        temperature = self.cfg.temperature if attempt == 0 else self.cfg.parse_retry_temperature
        return {"temperature": temperature, "top_p": self.cfg.top_p, "max_tokens": max_tokens}

    async def complete(self, prompt: ChatPrompt, max_tokens: int, attempt: int = 0) -> Completion:
        """The answer to a rendered prompt: from the cache, else from the endpoint (then cached)."""
        sampling = self.sampling(max_tokens, attempt)
        key = cache_key(self.cfg.model, prompt.messages, sampling, prompt.version, attempt)
        meta = {"model": self.cfg.model, "prompt_version": prompt.version, "sampling": sampling}
        if self.cache is not None:
            hit = await asyncio.to_thread(self.cache.get, key)
            if hit is not None:
                self.gate.settle({L.CACHE_HITS: 1}, 0.0, 0.0)
                if hit.rejected is not None:
                    raise E.SampleRejected(E.BAD_REQUEST, f"{hit.rejected} (cached)")
                return Completion(
                    hit.text, hit.finish_reason, hit.prompt_tokens, hit.completion_tokens, True
                )
        try:
            answer = await self._request(prompt.messages, sampling, parse_retry=attempt > 0)
        except E.SampleRejected as rej:
            if rej.reason == E.BAD_REQUEST:  # the endpoint refuses this very request: remember it
                await self._store(key, CachedAnswer("", None, 0, 0, rejected=rej.detail), meta)
            raise
        await self._store(key, answer, meta)
        return Completion(
            answer.text, answer.finish_reason, answer.prompt_tokens, answer.completion_tokens, False
        )

    async def _store(self, key: str, answer: CachedAnswer, meta: dict) -> None:
        if self.cache is not None:
            await asyncio.to_thread(self.cache.put, key, answer, meta)
            self.gate.settle({L.CACHE_WRITES: 1}, 0.0, 0.0)

    async def _request(
        self, messages: list[dict[str, str]], sampling: dict, parse_retry: bool
    ) -> CachedAnswer:
        """Send until an answer comes back; transient failures wait (backoff, Retry-After) and retry.

        Only failures while the endpoint is healthy count against `max_retries`; during an outage
        the request waits for the gate's circuit instead.
        """
        est_prompt = estimate_tokens(messages, self.cfg.chars_per_token)
        retry = sent = 0
        while True:
            probe = await self._wait_until_reachable()
            counts = {
                L.REQUESTS: 1,
                L.RETRIES: int(sent > 0),
                L.PARSE_RETRIES: int(parse_retry and sent == 0),
            }
            async with self._slots:
                reserved = await self._admit(est_prompt, sampling["max_tokens"])
                try:
                    response = await self.client.chat.completions.create(
                        model=self.cfg.model, messages=messages, **sampling
                    )
                except openai.APIError as err:
                    failure = err
                    if _classify(err)[0] not in TRANSIENT_KINDS:
                        await self.gate.succeeded(probe)  # it answered, if not as hoped
                    self._check_final(err, counts, reserved)
                else:
                    answer = self._succeeded(response, counts, reserved, est_prompt)
                    await self.gate.succeeded(probe)
                    return answer
            sent += 1
            verdict = await self.gate.failed(probe)
            if verdict.stop:
                raise self._outage(verdict)
            if verdict.go:  # the endpoint looks healthy: this failure spends a retry
                if retry >= self.cfg.max_retries:
                    raise E.SampleRejected(
                        E.UNAVAILABLE, f"gave up after {sent} attempts; last: {_short(failure)}"
                    )
                await asyncio.sleep(self._backoff(failure, retry))
                retry += 1

    async def _wait_until_reachable(self) -> bool:
        """Wait while the job's circuit marks the endpoint unreachable; True when this is the probe."""
        while True:
            verdict = await self.gate.admit()
            if verdict.stop:
                raise self._outage(verdict)
            if verdict.go:
                return verdict.probe
            await asyncio.sleep(verdict.wait_s)

    def _outage(self, verdict: Admission) -> E.TeacherOutageError:
        return E.TeacherOutageError(
            f"the teacher at {endpoint_name(self.cfg.base_url)} did not answer for "
            f"{verdict.outage_s:.0f} s (teacher.max_outage_s={self.cfg.max_outage_s:g}): the job stops"
        )

    async def _admit(self, est_prompt: int, max_tokens: int) -> tuple[float, float]:
        """Ask the gate (rate limit, budget); returns the (cost, tokens) reserved."""
        settings = self.gate.settings
        if not settings.limits_requests:
            return 0.0, 0.0
        tokens = float(est_prompt + max_tokens) if settings.tokens_per_minute is not None else 0.0
        cost = (
            L.cost_usd(settings.price, est_prompt, max_tokens)
            if settings.max_cost_usd is not None
            else 0.0
        )
        wait = await self.gate.reserve(tokens, cost)
        if wait is None:
            raise E.SampleRejected(
                E.BUDGET,
                f"teacher.max_cost_usd={self.gate.settings.max_cost_usd} reached; not sent",
            )
        if wait > 0:
            await asyncio.sleep(wait)
        return cost, tokens

    def _succeeded(
        self, response, counts: dict, reserved: tuple[float, float], est_prompt: int
    ) -> CachedAnswer:
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content if choice is not None else None) or ""
        usage = response.usage
        if usage is None:  # some servers omit it: estimate, and say so
            prompt_tokens, completion_tokens = (
                est_prompt,
                math.ceil(len(text) / self.cfg.chars_per_token),
            )
            counts["usage_estimated"] = 1
        else:
            prompt_tokens, completion_tokens = (
                usage.prompt_tokens or 0,
                usage.completion_tokens or 0,
            )
        counts.update({L.PROMPT_TOKENS: prompt_tokens, L.COMPLETION_TOKENS: completion_tokens})
        self.gate.settle(
            counts, reserved[0], max(0.0, reserved[1] - prompt_tokens - completion_tokens)
        )
        finish = choice.finish_reason if choice is not None else None
        return CachedAnswer(text, finish, prompt_tokens, completion_tokens)

    def _check_final(
        self, err: openai.APIError, counts: dict, reserved: tuple[float, float]
    ) -> None:
        """Count a failure; raise when it is fatal (the job stops) or final (the sample is rejected)."""
        kind, status = _classify(err)
        counts[L.ERROR_PREFIX + kind] = 1
        self.gate.settle(counts, reserved[0], reserved[1])
        if kind == "unauthorized":
            raise E.TeacherAuthError(
                f"the teacher at {self.cfg.base_url or 'OpenAI'} refused the key (HTTP {status}); check the "
                f"environment variable {self.cfg.api_key_env} (named by teacher.api_key_env)"
            ) from None
        if kind == "not_found":
            raise E.TeacherEndpointError(
                f"the teacher at {self.cfg.base_url or 'OpenAI'} answered 404 for model {self.cfg.model!r}; "
                "check teacher.model and teacher.base_url (it usually ends in /v1)"
            ) from None
        if kind == "bad_request":
            raise E.SampleRejected(E.BAD_REQUEST, _short(err))

    def _backoff(self, err: openai.APIError, retry: int) -> float:
        """The wait before retry number `retry`: jittered exponential, at least the Retry-After."""
        headers = err.response.headers if isinstance(err, openai.APIStatusError) else None
        return backoff_delay(
            retry,
            self.cfg.backoff_base_s,
            self.cfg.backoff_max_s,
            retry_after_seconds(headers),
            self._rng,
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.client.close()


def _classify(err: openai.APIError) -> tuple[str, int | None]:
    """(kind, HTTP status) of a failed request; kinds name the manifest's error counters."""
    if isinstance(err, openai.APITimeoutError):
        return "timeout", None
    if isinstance(err, openai.APIConnectionError):
        return "connection", None
    if not isinstance(err, openai.APIStatusError):
        return "server_error", None  # an unparseable 200 body: transient, retried
    status = err.status_code
    if status in (401, 403):
        return "unauthorized", status
    if status == 404:
        return "not_found", status
    if status == 429:
        return "rate_limited", status
    if status >= 500 or status in RETRIED_STATUS:
        return "server_error", status
    return "bad_request", status


def _short(err: BaseException, limit: int = 300) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
