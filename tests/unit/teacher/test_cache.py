"""The answer cache: keys that change exactly when the answer could, durable atomic files, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recycle.teacher.cache import AnswerCache, CachedAnswer, cache_key

MESSAGES = [
    {"role": "system", "content": "be picky"},
    {"role": "user", "content": "[Instruction]\nhi"},
]
SAMPLING = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 2048}


def test_key_is_stable_and_sensitive_to_every_input() -> None:
    base = cache_key("gpt-4o-mini", MESSAGES, SAMPLING, "v1")
    assert base == cache_key(
        "gpt-4o-mini", [dict(m) for m in MESSAGES], dict(reversed(SAMPLING.items())), "v1"
    )
    variants = [
        cache_key("gpt-4o", MESSAGES, SAMPLING, "v1"),
        cache_key(
            "gpt-4o-mini",
            [*MESSAGES[:1], {"role": "user", "content": "[Instruction]\nhi!"}],
            SAMPLING,
            "v1",
        ),
        cache_key("gpt-4o-mini", MESSAGES, {**SAMPLING, "temperature": 0.7}, "v1"),
        cache_key("gpt-4o-mini", MESSAGES, {**SAMPLING, "max_tokens": 1024}, "v1"),
        cache_key("gpt-4o-mini", MESSAGES, SAMPLING, "v2"),
        cache_key("gpt-4o-mini", MESSAGES, SAMPLING, "v1", attempt=1),
    ]
    assert len({base, *variants}) == 1 + len(variants)


def test_put_then_get_round_trips_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    cache = AnswerCache(str(tmp_path / "cache"))
    key = cache_key("m", MESSAGES, SAMPLING, "v1")
    assert cache.get(key) is None
    answer = CachedAnswer("[Better Answer] x [End]", "stop", 12, 5)
    cache.put(key, answer, {"model": "m"})
    assert cache.get(key) == answer
    assert (
        AnswerCache(str(tmp_path / "cache")).get(key) == answer
    )  # durable: a new process reads it
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [f"{key}.json"]
    assert json.loads(files[0].read_text())["answer"]["text"] == answer.text


def test_unreadable_entry_is_a_miss_not_a_value(tmp_path: Path) -> None:
    cache = AnswerCache(str(tmp_path))
    key = cache_key("m", MESSAGES, SAMPLING, "v1")
    cache.put(key, CachedAnswer("text", "stop", 1, 1))
    path = next(tmp_path.rglob(f"{key}.json"))
    path.write_text('{"answer": {"text": "trunc')
    assert cache.get(key) is None
    path.write_text('{"answer": {"unexpected": 1}}')
    assert cache.get(key) is None


@pytest.mark.integration  # the local teacher server
def test_cache_never_holds_the_api_key(tmp_path: Path, monkeypatch) -> None:
    import asyncio

    from recycle.config.teacher import TeacherConfig
    from recycle.prompts import render_chat
    from recycle.teacher.client import TeacherClient
    from recycle.teacher.gate import GateSettings, LocalGate
    from recycle.testing.local_server import LocalTeacherServer

    secret = "sk-test-SECRET-never-stored-0123456789"
    monkeypatch.setenv("RECYCLE_TEST_KEY", secret)
    with LocalTeacherServer() as server:
        cfg = TeacherConfig(
            base_url=server.base_url, model=server.model, api_key_env="RECYCLE_TEST_KEY"
        )
        client = TeacherClient(
            cfg, LocalGate(GateSettings.from_config(cfg)), AnswerCache(str(tmp_path))
        )
        prompt = render_chat("reflect_response", instruction="Say hi.", output="hi")
        asyncio.run(client.complete(prompt, 64))
    stored = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert "Better Answer" in stored
    assert secret not in stored
