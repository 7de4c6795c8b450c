"""The pure async core of the teacher: one chat completion, with cache, gate, retries and accounting.

`TeacherClient.complete(prompt, ...)` returns the teacher's text or raises:
`SampleRejected` (this sample cannot be done: 400, retries exhausted, budget), or
`TeacherAuthError` / `TeacherEndpointError` (nothing can be done: the job stops), or
`TeacherOutageError` (the endpoint has not answered for teacher.max_outage_s: the job stops).

How a request reaches the teacher is the backend's business (recycle/teacher/backend.py:
`teacher.backend` online or batch); everything here sits above it and is shared by all backends.
Transient failures (timeouts, dropped connections, 429, 5xx) are reported to the job's gate,
whose circuit (recycle/teacher/circuit.py) decides: while the endpoint looks healthy a failure
spends one of the request's retries; while it looks unreachable the request waits, retries intact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import posixpath
import random
from dataclasses import dataclass
from typing import Any

from recycle.config.teacher import TeacherConfig
from recycle.prompts import ChatPrompt
from recycle.teacher import backend as teacher_backend
from recycle.teacher import errors, ledger
from recycle.teacher.cache import AnswerCache, CachedAnswer, cache_key
from recycle.teacher.circuit import Admission
from recycle.teacher.drain import InFlight
from recycle.teacher.endpoint import DUMMY_KEY, endpoint_name, is_openai, resolve_api_key
from recycle.teacher.gate import Gate
from recycle.teacher.limits import backoff_delay

log = logging.getLogger(__name__)

__all__ = [
    "DUMMY_KEY",
    "Completion",
    "TeacherClient",
    "endpoint_name",
    "estimate_tokens",
    "is_openai",
    "resolve_api_key",
]

MESSAGE_OVERHEAD_TOKENS = 4  # per chat message: role and separators
BATCH_JOURNAL = "batches"  # folder of the batch backend's journal, inside the answer cache


@dataclass(frozen=True)
class Completion:
    """A teacher answer and where it came from."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool


def estimate_tokens(messages: list[dict[str, str]], chars_per_token: float) -> int:
    """Upper-bound-ish prompt length without the teacher's tokenizer."""
    chars = sum(len(m.get("content") or "") for m in messages)
    return math.ceil(chars / chars_per_token) + MESSAGE_OVERHEAD_TOKENS * len(messages)


def journal_dir(cache: AnswerCache | None) -> str | None:
    """Where a backend keeps what it must remember across runs (batch ids): beside the cache."""
    return posixpath.join(cache.root.rstrip("/"), BATCH_JOURNAL) if cache is not None else None


class TeacherClient:
    """One chat completion per call, many calls at once, at most the backend's `max_in_flight` waiting.

    Args:
        cfg: the teacher config (`cfg.backend` picks the backend).
        gate: the job's gate (rate limit, budget, accounting, circuit breaker).
        cache: the answer cache; None asks every time.
        client: an openai.AsyncOpenAI for the backend to use (tests); None opens one.
        rng: random source of the backoff jitter.
        backend: the backend itself (tests, or one shared by several clients).
    """

    def __init__(
        self,
        cfg: TeacherConfig,
        gate: Gate,
        cache: AnswerCache | None,
        client: Any = None,
        rng: random.Random | None = None,
        backend: teacher_backend.Backend | None = None,
    ):
        self.cfg = cfg
        self.gate = gate
        self.cache = cache
        # sent, not cached yet: what a graceful stop waits for (the Batch API's journal already
        # lets a rerun collect what its batches answer, so only online requests are followed)
        self.in_flight = InFlight()
        if cfg.backend == "online":
            gate.follow(self.in_flight)
        self.backend = backend or teacher_backend.make_backend(
            cfg, journal_dir(cache), client, gate
        )
        limit = self.backend.max_in_flight
        self._slots = asyncio.Semaphore(limit) if limit else contextlib.nullcontext()
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
                self.gate.settle({ledger.CACHE_HITS: 1}, 0.0, 0.0)
                if hit.rejected is not None:
                    raise errors.SampleRejected(errors.BAD_REQUEST, f"{hit.rejected} (cached)")
                return Completion(
                    hit.text, hit.finish_reason, hit.prompt_tokens, hit.completion_tokens, True
                )
        try:
            answer = await self._request(key, prompt.messages, sampling, attempt > 0, meta)
        except errors.SampleRejected as rej:
            if (
                rej.reason == errors.BAD_REQUEST
            ):  # the endpoint refuses this very request: remember it
                await self._store(key, CachedAnswer("", None, 0, 0, rejected=rej.detail), meta)
            raise
        finally:
            self.in_flight.landed(key)
        return Completion(
            answer.text, answer.finish_reason, answer.prompt_tokens, answer.completion_tokens, False
        )

    async def _store(self, key: str, answer: CachedAnswer, meta: dict) -> None:
        if self.cache is not None:
            await asyncio.to_thread(self.cache.put, key, answer, meta)
            self.gate.settle({ledger.CACHE_WRITES: 1}, 0.0, 0.0)

    async def _request(
        self,
        key: str,
        messages: list[dict[str, str]],
        sampling: dict,
        parse_retry: bool,
        meta: dict,
    ) -> CachedAnswer:
        """Send until an answer comes back and is cached; transient failures wait (backoff,
        Retry-After) and retry.

        The answer is written to the cache before its slot is given back: a slot freed at the
        answer let the next request go while the answer was still being written, so that on a
        slow store (S3 under load) answers paid and not cached yet piled up past
        `teacher.concurrency`, and a killed driver's rerun paid for all of them again (issue 37).
        What one actor can lose at a kill is then at most its `teacher.concurrency` requests.

        Only failures while the endpoint is healthy count against `max_retries`; during an outage
        the request waits for the gate's circuit instead.
        """
        est_prompt = estimate_tokens(messages, self.cfg.chars_per_token)
        body = {"model": self.cfg.model, "messages": messages, **sampling}
        retry = sent = 0
        while True:
            probe = await self._wait_until_reachable()
            counts = {
                ledger.REQUESTS: 1,
                ledger.RETRIES: int(sent > 0),
                ledger.PARSE_RETRIES: int(parse_retry and sent == 0),
            }
            async with self._slots:
                await self.gate.hold()  # a graceful stop sends nothing new (teacher.drain)
                reserved = await self._admit(est_prompt, sampling["max_tokens"])
                self.in_flight.sent(key)
                try:
                    reply = await self.backend.send(key, body)
                except teacher_backend.SendFailure as err:
                    self.in_flight.landed(key)  # nothing to cache; a retry is sent again
                    failure = err
                    if probe and _server_error(err) and await self.backend.reachable():
                        # the probe got a 5xx but the server answers otherwise: no outage, this
                        # request's own failure (it spends its retries instead of stopping the job)
                        err.endpoint_ok = True
                    if not err.transient or err.endpoint_ok:
                        await self.gate.succeeded(probe)  # it answered, if not as hoped
                    self._check_final(err, counts, reserved)
                else:
                    answer = self._succeeded(reply, counts, reserved, est_prompt)
                    await self._store(key, answer, meta)  # in the slot: see the docstring
                    await self.gate.succeeded(probe)
                    return answer
            sent += 1
            verdict = Admission() if failure.endpoint_ok else await self.gate.failed(probe)
            if verdict.stop:
                raise self._outage(verdict)
            if verdict.go:  # the endpoint looks healthy: this failure spends a retry
                if retry >= self.cfg.max_retries:
                    raise errors.SampleRejected(
                        errors.UNAVAILABLE,
                        f"gave up after {sent} attempts; last: {failure.message}",
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

    def _outage(self, verdict: Admission) -> errors.TeacherOutageError:
        return errors.TeacherOutageError(
            f"the teacher at {endpoint_name(self.cfg.base_url)} did not answer for "
            f"{verdict.outage_s:.0f} s (teacher.max_outage_s={self.cfg.max_outage_s:g}): the job stops"
        )

    async def _admit(self, est_prompt: int, max_tokens: int) -> tuple[float, float]:
        """Ask the gate (rate limit, budget); returns the (cost, tokens) reserved.

        The worst case (prompt estimate + max_tokens, at the backend's price) is reserved before
        the request leaves; the batch backend therefore holds a whole batch's worst case before
        it submits the batch.
        """
        settings = self.gate.settings
        if not settings.limits_requests:
            return 0.0, 0.0
        tokens = float(est_prompt + max_tokens) if settings.tokens_per_minute is not None else 0.0
        cost = (
            ledger.cost_usd(settings.price, est_prompt, max_tokens)
            if settings.max_cost_usd is not None
            else 0.0
        )
        wait = await self.gate.reserve(tokens, cost)
        if wait is None:
            raise errors.SampleRejected(
                errors.BUDGET,
                f"teacher.max_cost_usd={self.gate.settings.max_cost_usd} reached; not sent",
            )
        if wait > 0:
            await asyncio.sleep(wait)
        return cost, tokens

    def _succeeded(
        self,
        reply: teacher_backend.Reply,
        counts: dict,
        reserved: tuple[float, float],
        est_prompt: int,
    ) -> CachedAnswer:
        prompt_tokens, completion_tokens = reply.prompt_tokens, reply.completion_tokens
        if prompt_tokens is None or completion_tokens is None:  # usage omitted: estimate, say so
            prompt_tokens = est_prompt
            completion_tokens = math.ceil(len(reply.text) / self.cfg.chars_per_token)
            counts["usage_estimated"] = 1
        counts.update(
            {ledger.PROMPT_TOKENS: prompt_tokens, ledger.COMPLETION_TOKENS: completion_tokens}
        )
        self.gate.settle(
            counts, reserved[0], max(0.0, reserved[1] - prompt_tokens - completion_tokens)
        )
        return CachedAnswer(reply.text, reply.finish_reason, prompt_tokens, completion_tokens)

    def _check_final(
        self, err: teacher_backend.SendFailure, counts: dict, reserved: tuple[float, float]
    ) -> None:
        """Count a failure; raise when it is fatal (the job stops) or final (the sample is rejected)."""
        counts[ledger.ERROR_PREFIX + err.kind] = 1
        if not err.reached:  # counted when it was about to leave; it never did
            counts[ledger.NOT_SENT] = 1
        self.gate.settle(counts, reserved[0], reserved[1])
        if err.kind == teacher_backend.UNAUTHORIZED:
            raise errors.TeacherAuthError(
                f"the teacher at {self.cfg.base_url or 'OpenAI'} refused the key (HTTP {err.status}); check the "
                f"environment variable {self.cfg.api_key_env} (named by teacher.api_key_env)"
            ) from None
        if err.kind == teacher_backend.NOT_FOUND:
            raise errors.TeacherEndpointError(
                f"the teacher at {self.cfg.base_url or 'OpenAI'} answered 404 for model {self.cfg.model!r}; "
                "check teacher.model and teacher.base_url (it usually ends in /v1)"
            ) from None
        if err.kind == teacher_backend.INVALID_BATCH:
            raise errors.TeacherEndpointError(
                f"the teacher at {endpoint_name(self.cfg.base_url)} refused a batch: {err.message}"
            ) from None
        if err.kind == teacher_backend.BAD_REQUEST:
            raise errors.SampleRejected(errors.BAD_REQUEST, err.message)

    def _backoff(self, err: teacher_backend.SendFailure, retry: int) -> float:
        """The wait before retry number `retry`: jittered exponential, at least the Retry-After."""
        return backoff_delay(
            retry, self.cfg.backoff_base_s, self.cfg.backoff_max_s, err.retry_after_s, self._rng
        )

    def status(self) -> dict[str, Any]:
        """The backend's own progress (batches in flight...), for the progress line."""
        return self.backend.status()

    async def aclose(self) -> None:
        """Close the backend (HTTP connections, pollers)."""
        await self.backend.aclose()


def _server_error(err: teacher_backend.SendFailure) -> bool:
    """A transient failure the server itself answered with a 5xx (not a refused connection)."""
    return err.transient and not err.endpoint_ok and (err.status or 0) >= 500
