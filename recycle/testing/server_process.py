"""A LocalTeacherServer in a child process, for benchmarks whose driver threads would slow it."""

from __future__ import annotations

import json
from typing import Any

from recycle.testing.local_server import Endpoint, LocalTeacherServer
from recycle.testing.server_stats import ServerStats


def _serve_in_child(kwargs: dict[str, Any], conn: Any) -> None:
    server = LocalTeacherServer(**kwargs).start()
    conn.send(server.port)
    conn.recv()  # blocks until the parent says stop (or goes away)
    server.stop()


class ServerProcess(Endpoint):
    """A LocalTeacherServer in its own process (its own GIL), as a real endpoint would be.

    For benchmarks: the driver's Python threads then do not slow the server down. The child is
    started with "spawn": start it from under `if __name__ == "__main__":`, and give `answer` and
    `fault_fn` as module-level functions (they are pickled).
    """

    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs
        self.host = kwargs.get("host", "127.0.0.1")
        self.model = kwargs.get("model", "local-teacher")
        self.port = 0
        self._process: Any = None
        self._conn: Any = None

    def start(self) -> ServerProcess:
        """Start the child and wait until it listens."""
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve_in_child, args=(self.kwargs, child_conn), daemon=True
        )
        self._process.start()
        self.port = self._conn.recv()
        return self

    def _call(self, method: str, path: str) -> dict[str, Any]:
        import urllib.request

        host = "127.0.0.1" if self.host == "0.0.0.0" else self.host
        request = urllib.request.Request(
            f"http://{host}:{self.port}/v1{path}",
            method=method,
            data=b"{}" if method == "POST" else None,
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    @property
    def stats(self) -> ServerStats:
        """What the server saw so far (fetched from it)."""
        return ServerStats.from_json(self._call("GET", "/stats"))

    def reset_stats(self) -> None:
        """Forget what was counted so far."""
        self._call("POST", "/stats/reset")

    def stop(self) -> None:
        """Stop the child."""
        if self._process is not None:
            self._conn.send("stop")
            self._process.join(timeout=10)
            self._process = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
