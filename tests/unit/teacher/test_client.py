"""TeacherClient through the real openai client against the local server with injected faults."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from recycle.config.teacher import ModelPrice
from recycle.prompts import render_chat
from recycle.teacher import errors as teacher_errors
from recycle.teacher.cache import AnswerCache
from recycle.teacher.client import TeacherClient
from recycle.teacher.gate import GateSettings, LocalGate
from recycle.testing.local_answers import default_answer
from recycle.testing.local_server import (
    BAD_REQUEST,
    DROP,
    RATE_LIMIT,
    SERVER_ERROR,
    SLOW,
    UNAUTHORIZED,
)

from .conftest import teacher_config

PROMPT = render_chat("reflect_response", instruction="Name a primary colour.", output="Red.")


def scripted(*kinds: str):
    """Faults for the first requests in order, then good answers."""
    return lambda messages, n: kinds[n] if n < len(kinds) else None


def client_for(server, cache=None, **overrides) -> TeacherClient:
    cfg = teacher_config(server, **overrides)
    return TeacherClient(cfg, LocalGate(GateSettings.from_config(cfg)), cache)


def complete(client: TeacherClient, prompt=PROMPT, max_tokens: int = 256):
    async def go():
        try:
            return await client.complete(prompt, max_tokens)
        finally:
            await client.aclose()

    return asyncio.run(go())


def totals(client: TeacherClient) -> dict:
    return asyncio.run(client.gate.totals())


@pytest.mark.integration  # the local teacher server
def test_429_waits_at_least_retry_after_then_succeeds(make_server) -> None:
    server = make_server(fault_fn=scripted(RATE_LIMIT, RATE_LIMIT), retry_after_s=0.3)
    client = client_for(server)
    start = time.perf_counter()
    answer = complete(client)
    assert time.perf_counter() - start >= 0.6
    assert "[Better Answer]" in answer.text and not answer.cached
    assert server.stats.requests == 3
    t = totals(client)
    assert (t["requests"], t["retries"], t["errors"]) == (3, 2, {"rate_limited": 2})
    assert t["prompt_tokens"] > 0 and t["completion_tokens"] > 0


@pytest.mark.integration  # the local teacher server
def test_500_drop_and_timeout_are_retried(make_server) -> None:
    server = make_server(fault_fn=scripted(SERVER_ERROR, DROP, SLOW), slow_s=1.5)
    client = client_for(server, timeout_s=0.5)
    answer = complete(client)
    assert answer.finish_reason == "stop"
    assert server.stats.requests == 4
    t = totals(client)
    assert t["errors"] == {"server_error": 1, "connection": 1, "timeout": 1}
    assert t["requests"] == 4 and "not_sent" not in t  # the dropped one reached the server


def test_a_refused_connection_sent_nothing_and_is_counted_apart() -> None:
    """Nothing listens on the port: openai's connection error comes from the HTTP library's
    ConnectError, the request never left (online.reached), and the ledger keeps it out of
    "requests" (what the endpoint got) and in "not_sent"."""
    import socket

    import openai

    from recycle.teacher import online

    with socket.socket() as s:  # a port nothing listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        api = openai.AsyncOpenAI(
            api_key="x", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=5
        )

        async def ask() -> None:
            try:
                await api.chat.completions.create(model="m", messages=PROMPT.messages)
            finally:
                await api.close()

        with pytest.raises(openai.APIConnectionError) as refused:
            asyncio.run(ask())
    failure = online.failure_of(refused.value)
    assert failure.kind == "connection" and not failure.reached

    gate = LocalGate(GateSettings())

    async def one_refused_then_one_answered() -> dict:
        await gate.hold()  # counted as it was about to leave
        gate.settle({"requests": 1, "error_connection": 1, "not_sent": 1}, 0.0, 0.0)
        await gate.hold()
        gate.settle({"requests": 1}, 0.0, 0.0)
        return await gate.totals()

    t = asyncio.run(one_refused_then_one_answered())
    assert (t["requests"], t["not_sent"], t["errors"]) == (1, 1, {"connection": 1})


@pytest.mark.integration  # the local teacher server
def test_400_rejects_the_sample_without_retrying(make_server) -> None:
    server = make_server(fault_fn=scripted(BAD_REQUEST))
    client = client_for(server)
    with pytest.raises(teacher_errors.SampleRejected) as err:
        complete(client)
    assert err.value.reason == teacher_errors.BAD_REQUEST
    assert "maximum context length" in err.value.detail
    assert server.stats.requests == 1


@pytest.mark.integration  # the local teacher server
def test_retries_are_bounded(make_server) -> None:
    server = make_server(faults={SERVER_ERROR: 1.0})
    client = client_for(server, max_retries=3)
    with pytest.raises(teacher_errors.SampleRejected) as err:
        complete(client)
    assert err.value.reason == teacher_errors.UNAVAILABLE
    assert "4 attempts" in err.value.detail
    assert server.stats.requests == 4


@pytest.mark.integration  # the local teacher server
def test_401_stops_everything_and_names_the_variable(make_server, monkeypatch) -> None:
    monkeypatch.setenv("RECYCLE_TEST_TEACHER_KEY", "sk-wrong-key-123456")
    server = make_server(faults={UNAUTHORIZED: 1.0})
    client = client_for(server)
    with pytest.raises(teacher_errors.TeacherAuthError) as err:
        complete(client)
    assert "RECYCLE_TEST_TEACHER_KEY" in str(err.value)
    assert "sk-wrong-key-123456" not in str(err.value)
    assert server.stats.requests == 1


def test_missing_key_for_openai_fails_at_construction(monkeypatch) -> None:
    from recycle.config.teacher import TeacherConfig
    from recycle.teacher.client import resolve_api_key

    monkeypatch.delenv("RECYCLE_ABSENT_KEY", raising=False)
    cfg = TeacherConfig(api_key_env="RECYCLE_ABSENT_KEY")
    with pytest.raises(teacher_errors.TeacherAuthError, match="RECYCLE_ABSENT_KEY"):
        TeacherClient(cfg, LocalGate(GateSettings.from_config(cfg)), None)
    local = TeacherConfig(base_url="http://127.0.0.1:9/v1", api_key_env="RECYCLE_ABSENT_KEY")
    assert resolve_api_key(local) == "EMPTY"


@pytest.mark.integration  # the local teacher server
def test_second_ask_comes_from_the_cache(make_server, tmp_path) -> None:
    server = make_server()
    cache = AnswerCache(str(tmp_path))
    first = complete(client_for(server, cache))
    again_client = client_for(server, cache)
    again = complete(again_client)
    assert again.cached and again.text == first.text
    assert server.stats.requests == 1
    assert totals(again_client)["cache_hits"] == 1 and totals(again_client)["requests"] == 0


def complete_all(client, n: int) -> None:
    """n distinct prompts sent through `client` at once, then the client closed."""

    async def go():
        prompts = [
            render_chat("reflect_response", instruction=f"Q{i}", output="A") for i in range(n)
        ]
        await asyncio.gather(*(client.complete(p, 64) for p in prompts))
        await client.aclose()

    asyncio.run(go())


@pytest.mark.integration  # the local teacher server
def test_in_flight_requests_are_bounded(make_server) -> None:
    server = make_server(latency_s=0.1)
    client = client_for(server, concurrency=4)
    complete_all(client, 20)
    assert server.stats.requests == 20
    assert server.stats.max_in_flight == 4


class SlowCache(AnswerCache):
    """A cache whose writes take `put_s` (an object store under load); counts answers paid and
    not written yet, the most of them at any moment."""

    def __init__(self, root: str, put_s: float):
        super().__init__(root)
        self.put_s, self.lock = put_s, threading.Lock()
        self.unwritten = self.most_unwritten = 0

    def answered(self, messages) -> str:  # the server's answer hook: paid from here on
        with self.lock:
            self.unwritten += 1
            self.most_unwritten = max(self.most_unwritten, self.unwritten)
        return default_answer(messages)

    def put(self, key, answer, meta=None) -> None:
        time.sleep(self.put_s)
        super().put(key, answer, meta)
        with self.lock:
            self.unwritten -= 1


@pytest.mark.integration  # the local teacher server
def test_answers_paid_and_not_cached_never_exceed_the_concurrency(make_server, tmp_path) -> None:
    # a slot given back at the answer, before its cache write, let these pile up past the
    # concurrency on a slow cache; a killed driver's rerun paid for all of them again (issue 37)
    cache = SlowCache(str(tmp_path), put_s=0.2)
    server = make_server(answer=cache.answered, latency_s=0.02)
    client = client_for(server, cache, concurrency=2)
    complete_all(client, 12)
    assert server.stats.requests == 12 and cache.unwritten == 0
    assert cache.most_unwritten == 2


@pytest.mark.integration  # the local teacher server
def test_rate_limit_paces_requests(make_server) -> None:
    server = make_server()
    client = client_for(server, requests_per_minute=600, rate_headroom=0.0, concurrency=16)  # 10/s
    complete_all(client, 11)
    arrivals = sorted(server.stats.arrivals)
    # 11 requests at 10/s are sent over 1 s (a late first send on a busy machine shortens it a little).
    assert arrivals[-1] - arrivals[0] >= 0.9


@pytest.mark.integration  # the local teacher server
def test_budget_stops_new_requests_and_is_never_exceeded(make_server) -> None:
    server = make_server()
    prices = {"local-teacher": ModelPrice(input_per_1m=1000.0, output_per_1m=1000.0)}
    # Each request reserves (prompt estimate + 64) tokens at $1000/1M: about $0.2; allow ~3 of them.
    client = client_for(server, prices=prices, max_cost_usd=0.7, concurrency=1)

    async def go():
        outcomes = []
        for i in range(10):
            try:
                await client.complete(
                    render_chat("reflect_response", instruction=f"Q{i}", output="A"), 64
                )
                outcomes.append("ok")
            except teacher_errors.SampleRejected as rej:
                outcomes.append(rej.reason)
        await client.aclose()
        return outcomes

    outcomes = asyncio.run(go())
    sent = outcomes.count("ok")
    assert 1 <= sent < 10 and outcomes == ["ok"] * sent + [teacher_errors.BUDGET] * (10 - sent)
    assert server.stats.requests == sent
    t = totals(client)
    assert t["budget_exhausted"] and 0 < t["cost_usd"] <= 0.7
    assert t["budget_refusals"] == 10 - sent


@pytest.mark.integration  # the local teacher server
def test_a_400_is_remembered_so_a_rerun_does_not_resend_it(make_server, tmp_path) -> None:
    server = make_server(faults={BAD_REQUEST: 1.0})
    cache = AnswerCache(str(tmp_path))
    for _ in range(2):
        with pytest.raises(teacher_errors.SampleRejected) as err:
            complete(client_for(server, cache))
        assert err.value.reason == teacher_errors.BAD_REQUEST
    assert err.value.detail.endswith("(cached)")
    assert server.stats.requests == 1


@pytest.mark.integration  # the local teacher server
def test_an_outage_shorter_than_max_outage_costs_time_not_the_sample(make_server) -> None:
    """Requests wait for the endpoint instead of spending retries: max_retries=1 survives 2 s down."""
    server = make_server()
    port = server.port
    server.stop()
    client = client_for(server, max_retries=1, outage_after_failures=2, probe_max_s=0.2)

    async def go():
        asyncio.get_running_loop().call_later(2.0, server.start)
        try:
            return await client.complete(PROMPT, 256)
        finally:
            await client.aclose()

    start = time.perf_counter()
    answer = asyncio.run(go())
    assert time.perf_counter() - start >= 2.0 and server.port == port
    assert "[Better Answer]" in answer.text
    t = totals(client)
    assert t["outages"] == 1 and t["circuit"] == "closed" and t["longest_outage_s"] >= 1.9
    assert t["errors"]["connection"] >= 3 and server.stats.requests == 1


@pytest.mark.integration  # the local teacher server
def test_an_outage_past_max_outage_stops_with_the_endpoint_named(make_server) -> None:
    server = make_server()
    server.stop()
    client = client_for(server, max_outage_s=1.0, outage_after_failures=2, probe_max_s=0.2)
    with pytest.raises(
        teacher_errors.TeacherOutageError, match=f"127.0.0.1:{server.port}.*max_outage_s=1"
    ):
        complete(client)
    assert teacher_errors.TeacherOutageError.exit_code == 4


@pytest.mark.integration  # the local teacher server
def test_outage_helper_drops_connections_and_comes_back_on_the_same_port(make_server) -> None:
    server = make_server(latency_s=0.05)
    client = client_for(server, max_retries=0, outage_after_failures=1, probe_max_s=0.1)

    async def go():
        try:
            first = await client.complete(PROMPT, 256)
            outage = server.outage(1.0, after_requests=1)
            await asyncio.sleep(0.2)
            second = await client.complete(
                render_chat("reflect_response", instruction="2+2?", output="4"), 256
            )
            return first, second, outage
        finally:
            await client.aclose()

    first, second, outage = asyncio.run(go())
    outage.join()
    assert outage.ended - outage.began >= 1.0 and "[Better Answer]" in second.text
    assert totals(client)["errors"]["connection"] >= 1


@pytest.mark.integration  # the local teacher server
def test_a_prompt_the_server_always_fails_is_rejected_not_taken_for_an_outage(make_server) -> None:
    """Alone in flight, its 5xx open the circuit; the probe's second opinion (GET /models answers)
    says the server is up, so the request spends its retries and is rejected: the job goes on."""
    server = make_server(faults={SERVER_ERROR: 1.0})
    client = client_for(
        server, max_retries=3, outage_after_failures=2, probe_max_s=0.2, max_outage_s=30.0
    )
    t0 = time.monotonic()
    with pytest.raises(teacher_errors.SampleRejected) as err:
        complete(client)
    assert err.value.reason == teacher_errors.UNAVAILABLE and time.monotonic() - t0 < 30.0
    assert totals(client)["circuit"] == "closed"
