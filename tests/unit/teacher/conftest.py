"""Fixtures of the teacher tests: a local OpenAI-compatible server per test, a teacher config for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from recycle.config.teacher import TeacherConfig
from recycle.testing.local_server import LocalTeacherServer


@pytest.fixture
def make_server() -> Iterator[Callable[..., LocalTeacherServer]]:
    """Start local teacher servers (stopped at the end of the test)."""
    servers: list[LocalTeacherServer] = []

    def start(**kwargs) -> LocalTeacherServer:
        server = LocalTeacherServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def teacher_config(server: LocalTeacherServer, **overrides) -> TeacherConfig:
    """A config pointed at `server`, with short timeouts and backoff so fault tests run fast."""
    values = {
        "base_url": server.base_url,
        "model": server.model,
        "api_key_env": "RECYCLE_TEST_TEACHER_KEY",
        "timeout_s": 1.0,
        "backoff_base_s": 0.02,
        "backoff_max_s": 0.2,
        "max_retries": 4,
        "concurrency": 8,
    }
    return TeacherConfig(**{**values, **overrides})
