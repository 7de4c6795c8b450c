"""The `integration` rule, held while the tests run: a test that starts Ray, a server or a browser
carries the `integration` mark, so that `pytest -m "not integration"` starts none of them.

tests/conftest.py imports these hooks. While a test without the mark runs (its setup, call and
teardown), starting any of these fails it, naming what was started:

- Ray in this process: `ray.init`, also Ray's automatic start on a first `ray.get`/Ray Data call;
- the local teacher server (`LocalTeacherServer`, `ServerProcess`), moto's S3 server
  (`tests.support.s3.moto_s3`), a local multi-node cluster (`LocalCluster`), or a session fixture
  known to hold one of them (`STARTING_FIXTURES`: caught even when an earlier test started it);
- a child process running `ray`, `vllm` or a Chromium;
- a Ray started by a child process (`python -m recycle run ...`): while an unmarked test runs,
  RAY_TMPDIR points at an empty folder of this session, which children inherit; a Ray they start
  leaves its `ray/` folder there, found when the test ends.

A background thread's start (an outage restarting the teacher) is not checked: it belongs to the
test that began the outage.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

MARK = "integration"
# Fixtures that start (or hand out) Ray, a server or a cluster: a test using one needs the mark.
STARTING_FIXTURES = {
    "ray_local": "the session's local Ray",
    "s3_env": "moto's S3 server",
    "three_nodes": "a local three-node Ray cluster",
}
CHILD_PROGRAMS = {
    "ray": "a Ray head or node",
    "chromium": "Chromium",
    "chromium-browser": "Chromium",
}

_current: pytest.Item | None = None
_tripwire = ""  # RAY_TMPDIR of unmarked tests
_restore: list[Callable[[], None]] = []


def _unmarked() -> pytest.Item | None:
    """The running test when it lacks the mark and we are on the main thread, else None."""
    if _current is None or threading.current_thread() is not threading.main_thread():
        return None
    return None if _current.get_closest_marker(MARK) else _current


def refuse(what: str) -> None:
    """Fail the running test if it is not marked `integration` (call it where something starts)."""
    item = _unmarked()
    if item is not None:
        pytest.fail(
            f"{item.nodeid} starts {what} but is not marked `{MARK}`: add "
            f"`pytestmark = pytest.mark.{MARK}` (or @pytest.mark.{MARK}) to it "
            "(the rule: tests/support/guard.py)",
            pytrace=False,
        )


def _wrap(owner: Any, name: str, what: str) -> None:
    original = getattr(owner, name)

    def guarded(*args: Any, **kwargs: Any) -> Any:
        refuse(what)
        return original(*args, **kwargs)

    guarded.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(owner, name, guarded)
    _restore.append(lambda: setattr(owner, name, original))


def _child_program(args: Any) -> str | None:
    """What a child process's command line starts, when it is one of CHILD_PROGRAMS or vLLM."""
    argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args or [])
    argv = [os.fsdecode(a) for a in argv]
    if len(argv) == 1 and " " in argv[0]:  # shell=True
        argv = argv[0].split()
    if not argv:
        return None
    program = CHILD_PROGRAMS.get(Path(argv[0]).name)
    if program:
        return program
    if any(a == "vllm" or a.startswith("vllm.") for a in argv[1:3]):
        return "a vLLM server"
    return None


def install() -> None:
    """Wrap the starters (once per session)."""
    global _tripwire
    import ray

    from recycle.testing import local_server, server_process

    _wrap(ray, "init", "Ray (ray.init)")
    _wrap(local_server.LocalTeacherServer, "start", "the local teacher server")
    _wrap(server_process.ServerProcess, "start", "the local teacher server (in a child process)")
    try:  # it needs psutil, which only the dev extra brings (not the lowest-versions environment)
        from recycle.testing import multinode
    except ImportError:
        pass
    else:
        _wrap(multinode.LocalCluster, "__enter__", "a local multi-node Ray cluster")

    execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def guarded_child(self: subprocess.Popen, args: Any, *rest: Any, **kwargs: Any) -> Any:
        program = _child_program(args)
        if program:
            refuse(program)
        return execute_child(self, args, *rest, **kwargs)

    subprocess.Popen._execute_child = guarded_child  # type: ignore[attr-defined]
    _restore.append(lambda: setattr(subprocess.Popen, "_execute_child", execute_child))
    _tripwire = tempfile.mkdtemp(prefix="rtw", dir="/tmp")  # short: Ray's socket paths


def uninstall() -> None:
    while _restore:
        _restore.pop()()
    if _tripwire:
        shutil.rmtree(_tripwire, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    install()


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    global _current
    _current = item
    try:
        return (yield)
    finally:
        _current = None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker(MARK):
        return
    for name in getattr(item, "fixturenames", ()):
        if name in STARTING_FIXTURES:
            refuse(f"{STARTING_FIXTURES[name]} (fixture `{name}`)")


@pytest.fixture(autouse=True)
def _children_start_no_ray(request: pytest.FixtureRequest) -> Iterator[None]:
    """An unmarked test's children see RAY_TMPDIR=<tripwire>: a Ray they start is found after."""
    if request.node.get_closest_marker(MARK) or not _tripwire:
        yield
        return
    saved = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = _tripwire
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = saved
        started = Path(_tripwire, "ray")
        if started.exists():
            shutil.rmtree(started, ignore_errors=True)
            refuse("Ray in a child process (it wrote under RAY_TMPDIR)")
