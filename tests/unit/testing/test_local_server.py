"""The public fault-injection API of the scripted teacher: what tests use instead of private names."""

from __future__ import annotations

import openai
import pytest

from recycle.testing.local_server import CUT_OFF, FAULTS, LocalTeacherServer
from recycle.testing.server_process import ServerProcess

MESSAGES = [{"role": "user", "content": "Name a primary colour."}]


def ask(server, key: str = "sk-test") -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)
    return client.chat.completions.create(model=server.model, messages=MESSAGES)


@pytest.mark.integration  # the local teacher server
def test_on_request_sees_the_api_key_of_every_request():
    seen: list[str] = []
    with LocalTeacherServer(on_request=lambda headers: seen.append(headers["Authorization"])) as s:
        ask(s, "sk-one")
        ask(s, "sk-two")
    assert seen == ["Bearer sk-one", "Bearer sk-two"]


@pytest.mark.integration  # the local teacher server
def test_cut_off_answers_with_finish_reason_length_and_is_counted():
    with LocalTeacherServer(fault_fn=lambda messages, n: CUT_OFF if n == 0 else None) as s:
        first, second = ask(s), ask(s)
    assert (first.choices[0].finish_reason, second.choices[0].finish_reason) == ("length", "stop")
    assert first.choices[0].message.content == second.choices[0].message.content
    assert dict(s.stats.by_kind) == {CUT_OFF: 1, "ok": 1}


def test_an_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fault kind"):
        LocalTeacherServer(faults={"cut": 1.0})
    assert CUT_OFF in FAULTS


@pytest.mark.integration  # the local teacher server
def test_server_process_serves_and_reports_stats_across_processes():
    with ServerProcess(latency_s=0.0) as s:
        assert ask(s).choices[0].finish_reason == "stop"
        assert s.stats.requests == 1
        s.reset_stats()
        assert s.stats.requests == 0
    assert s.url_for("10.0.0.7") == f"http://10.0.0.7:{s.port}/v1"
