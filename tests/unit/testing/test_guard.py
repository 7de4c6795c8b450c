"""The `integration` rule held at run time (tests/support/guard.py): what it refuses, and to whom."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from recycle.testing.local_server import LocalTeacherServer
from tests.support import guard


class Item:
    """A stand-in for the running test, with or without the mark."""

    nodeid = "tests/unit/x.py::test_x"

    def __init__(self, marked: bool):
        self.marked = marked

    def get_closest_marker(self, name: str) -> object | None:
        return object() if self.marked and name == guard.MARK else None


@pytest.fixture
def running(monkeypatch):
    return lambda item: monkeypatch.setattr(guard, "_current", item)


def test_an_unmarked_test_starting_the_teacher_server_fails_naming_it(running) -> None:
    running(Item(marked=False))
    server = LocalTeacherServer()
    with pytest.raises(pytest.fail.Exception, match=r"test_x starts the local teacher server but"):
        server.start()  # refused before anything binds
    assert server._server is None


def test_a_marked_test_may_start_anything(running) -> None:
    running(Item(marked=True))
    guard.refuse("Ray (ray.init)")  # no error


def test_an_unmarked_test_may_not_start_ray(running) -> None:
    import ray

    running(Item(marked=False))
    with pytest.raises(pytest.fail.Exception, match=r"starts Ray \(ray.init\).*`integration`"):
        ray.init(num_cpus=1)
    assert not ray.is_initialized()


@pytest.mark.parametrize(
    ("argv", "program"),
    [
        (["ray", "start", "--head"], "a Ray head or node"),
        ("/x/venv/bin/ray start --head --block", "a Ray head or node"),
        (["/usr/bin/chromium", "--headless", "--screenshot"], "Chromium"),
        ([sys.executable, "-m", "vllm.entrypoints.openai.api_server"], "a vLLM server"),
        ([sys.executable, "-c", "print(1)"], None),
        (["git", "status"], None),
    ],
)
def test_child_programs_that_start_a_server_are_recognised(argv, program) -> None:
    assert guard._child_program(argv) == program


def test_an_unmarked_test_may_not_start_a_ray_head_in_a_child(running) -> None:
    running(Item(marked=False))
    with pytest.raises(pytest.fail.Exception, match="starts a Ray head or node"):
        subprocess.run(["ray", "start", "--head"], check=False)  # refused before it is spawned


def test_an_unmarked_test_s_children_see_the_tripwire() -> None:
    assert os.environ.get("RAY_TMPDIR") == guard._tripwire  # a Ray they start lands there
