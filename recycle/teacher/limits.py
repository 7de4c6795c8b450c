"""Rate limiting and retry timing: pure functions and a clock-driven token bucket, no I/O."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping


class TokenBucket:
    """A reservation token bucket (like Go's `rate.Limiter.Reserve`).

    `reserve(cost)` always succeeds and returns how long the caller must wait before acting; the
    balance may go negative, which queues later callers behind earlier ones. Over any window of
    W seconds, at most `rate * W + capacity` is granted.

    Args:
        rate: units per second.
        capacity: the most that can be spent at once after an idle spell (at least one unit).
        clock: monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        return now

    def reserve(self, cost: float = 1.0) -> float:
        """Take `cost` units; return the seconds to wait until they are really available."""
        self._refill()
        self._tokens -= cost
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def refund(self, amount: float) -> None:
        """Give back units reserved but not used (negative amounts take more)."""
        self._refill()
        self._tokens = min(self.capacity, self._tokens + amount)


class RateLimiter:
    """Requests/minute and tokens/minute limits of one job; either may be None (no limit).

    `headroom` aims a fraction below the limits; `burst_s` is how many seconds of rate may go at
    once after an idle spell (0: requests are evenly paced).
    """

    def __init__(
        self,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        burst_s: float = 0.0,
        headroom: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.requests = _bucket(requests_per_minute, burst_s, headroom, clock)
        self.tokens = _bucket(tokens_per_minute, burst_s, headroom, clock)

    def reserve(self, tokens: float) -> float:
        """Reserve one request of about `tokens` tokens; return the seconds to wait before sending."""
        waits = [
            b.reserve(c) for b, c in ((self.requests, 1.0), (self.tokens, tokens)) if b is not None
        ]
        return max(waits, default=0.0)

    def refund_tokens(self, amount: float) -> None:
        """Return the difference between the tokens reserved and those the answer really used."""
        if self.tokens is not None:
            self.tokens.refund(amount)


def _bucket(
    per_minute: float | None, burst_s: float, headroom: float, clock: Callable[[], float]
) -> TokenBucket | None:
    if per_minute is None:
        return None
    rate = per_minute / 60.0 * (1.0 - headroom)
    return TokenBucket(rate, rate * burst_s, clock)


def backoff_delay(
    attempt: int,
    base_s: float,
    max_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number `attempt` (0-based): capped exponential, full jitter.

    A server's Retry-After is a floor: the wait is never shorter than what the server asked for
    (even above `max_s`), plus a little jitter so that clients told the same time spread out.
    """
    rng = rng or random
    ceiling = min(max_s, base_s * (2.0 ** min(attempt, 32)))
    delay = rng.uniform(0.0, ceiling)
    if retry_after_s is not None and retry_after_s >= 0:
        delay = max(delay, retry_after_s + rng.uniform(0.0, 0.1 * min(base_s, ceiling)))
    return delay


def retry_after_seconds(
    headers: Mapping[str, str] | None, now: float | None = None
) -> float | None:
    """The wait a server asked for: `retry-after-ms`, else `Retry-After` (seconds or an HTTP date)."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        value = _float(ms)
        if value is not None:
            return max(value / 1000.0, 0.0)
    raw = lower.get("retry-after")
    if raw is None:
        return None
    value = _float(raw)
    if value is not None:
        return max(value, 0.0)
    return _http_date_delay(raw, now)


def _float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _http_date_delay(raw: str, now: float | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)
