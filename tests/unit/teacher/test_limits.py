"""Token buckets, the job rate limiter, backoff with jitter and Retry-After parsing, on a fake clock."""

from __future__ import annotations

import email.utils
import random

import pytest

from recycle.teacher.limits import RateLimiter, TokenBucket, backoff_delay, retry_after_seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_paces_evenly_without_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10.0, capacity=0.0, clock=clock)  # capacity rounds up to one request
    waits = [bucket.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_bucket_grants_at_most_rate_times_window_plus_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=5.0, capacity=5.0, clock=clock)
    sends = []
    for _ in range(200):  # many callers at random moments, each sending when told
        clock.now += random.Random(len(sends)).uniform(0, 0.1)
        sends.append(clock.now + bucket.reserve())
    sends.sort()
    for window in (1.0, 3.0, 10.0):
        worst = max(sum(1 for t in sends if s <= t <= s + window) for s in sends)
        assert worst <= 5.0 * window + 5.0


def test_bucket_refills_after_idle_but_not_past_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, capacity=4.0, clock=clock)
    assert [bucket.reserve() for _ in range(4)] == [0.0] * 4
    assert bucket.reserve() == pytest.approx(0.5)
    clock.now += 100.0
    assert [bucket.reserve() for _ in range(4)] == [0.0] * 4
    assert bucket.reserve() == pytest.approx(0.5)


def test_refund_returns_unused_tokens() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100.0, capacity=100.0, clock=clock)
    assert bucket.reserve(300.0) == pytest.approx(2.0)  # 200 short at 100/s
    bucket.refund(150.0)  # the answer used 150 of the 300 reserved
    assert bucket.reserve(50.0) == pytest.approx(1.0)  # -50 - 50 = -100 -> 1 s


def test_rate_limiter_takes_the_stricter_limit_with_headroom() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        requests_per_minute=600, tokens_per_minute=60_000, headroom=0.0, clock=clock
    )
    # 10 req/s and 1000 tok/s: requests of 500 tokens are held by the token limit (2 per second).
    waits = [limiter.reserve(500) for _ in range(4)]
    assert waits[-1] == pytest.approx(1.999, abs=1e-2)
    slow = RateLimiter(
        requests_per_minute=60, tokens_per_minute=None, headroom=0.5, clock=FakeClock()
    )
    assert [slow.reserve(1) for _ in range(3)] == pytest.approx([0.0, 2.0, 4.0])  # 0.5 req/s


def test_unlimited_limiter_never_waits() -> None:
    limiter = RateLimiter(None, None)
    assert limiter.reserve(10**9) == 0.0
    limiter.refund_tokens(5)  # no token bucket: nothing to refund, no error


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(0)
    for attempt in range(12):
        ceiling = min(8.0, 0.5 * 2**attempt)
        delays = [backoff_delay(attempt, 0.5, 8.0, None, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.7 * ceiling  # full jitter spreads over the whole range
        assert len(set(delays)) > 150


def test_backoff_never_undercuts_retry_after() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(0, 1.0, 60.0, retry_after_s=3.0, rng=rng) for _ in range(100)]
    assert all(3.0 <= d <= 3.1 for d in delays)
    assert (
        backoff_delay(0, 1.0, 2.0, retry_after_s=120.0, rng=rng) >= 120.0
    )  # the server's word beats the cap


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "Retry-After": "1"}, 0.25),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-3"}, 0.0),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_parsing(headers: dict | None, expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds({"Retry-After": header}, now=now) == pytest.approx(30.0)
