"""A local OpenAI-compatible teacher: POST /v1/chat/completions on 127.0.0.1, in a background thread.

It speaks the Batch API too (files, batches, output and error files, injectable faults):
`server.batch`, in recycle/testing/local_batch.py.

For tests, benchmarks and the offline demo. Answers come from a callable (messages -> text); the
default answers any reflection prompt in the papers' format with deterministic text derived from
the sample, so a whole pipeline runs without a model. Faults can be injected at given rates or by
a callable: 429 with Retry-After, 500, an answer slower than the client's timeout, a dropped
connection, an answer without markers, an answer cut at max_tokens (finish_reason "length"), 401,
400. Every request is counted and time-stamped (`stats`, recycle/testing/server_stats.py), and
`on_request` sees the headers of each (say, to check which API key a client sent).
An outage (the server gone, connections refused, open ones dropped) is `stop()` then `start()`
on the same port, or `outage(seconds, after_requests=N)` in the background.

    with LocalTeacherServer(latency_s=0.2, faults={"rate_limit": 0.05}) as server:
        cfg = TeacherConfig(base_url=server.base_url, model=server.model)
"""

from __future__ import annotations

import json
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from recycle.testing.local_answers import (
    completion,
    default_answer,
    error_body,
    unformatted_answer,
)
from recycle.testing.local_batch import LocalBatchService
from recycle.testing.server_stats import ServerStats

OK = "ok"
RATE_LIMIT = "rate_limit"  # 429 with Retry-After and retry-after-ms
SERVER_ERROR = "server_error"  # 500
SLOW = "slow"  # a good answer after slow_s seconds (beyond the client's timeout)
DROP = "drop"  # the connection closes without a response
NO_MARKERS = "no_markers"  # 200 with an answer that ignores the format
UNAUTHORIZED = "unauthorized"  # 401
BAD_REQUEST = "bad_request"  # 400, as for a context that is too long
CUT_OFF = "cut_off"  # 200 with a good answer whose finish_reason is "length" (cut at max_tokens)
FAULTS = (RATE_LIMIT, SERVER_ERROR, SLOW, DROP, NO_MARKERS, UNAUTHORIZED, BAD_REQUEST, CUT_OFF)

Messages = list[dict[str, Any]]
FaultFn = Callable[[Messages, int], "str | None"]
RequestHook = Callable[[Mapping[str, str]], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # many clients connect at once; the default backlog of 5 drops them
    owner: LocalTeacherServer

    def server_activate(self) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Reset every open keep-alive connection, as the death of a server process does."""
        with self._open_lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed by its handler
                continue


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects
    # Headers and body go out in two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK, adding ~40 ms to every answer.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        owner = self.server.owner
        if owner.batch.handles(self.path):
            self._json(*owner.batch.route("GET", self.path, self.headers, b""))
        elif self.path.rstrip("/").endswith("/stats"):
            with owner._lock:
                self._json(200, owner.stats.to_json())
        elif self.path.rstrip("/").endswith("/models"):
            model = {"id": owner.model, "object": "model"}
            if owner.max_model_len:  # as vLLM reports it
                model["max_model_len"] = owner.max_model_len
            self._json(200, {"object": "list", "data": [model]})
        else:
            self._json(404, error_body(f"no route {self.path}", "not_found"))

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        if self.server.owner.on_request is not None:
            self.server.owner.on_request(self.headers)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.owner.batch.handles(self.path):
            self._json(*self.server.owner.batch.route("POST", self.path, self.headers, raw))
            return
        body = json.loads(raw or b"{}")
        if self.path.rstrip("/").endswith("/stats/reset"):
            self.server.owner.reset_stats()
            self._json(200, {})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, error_body(f"no route {self.path}", "not_found"))
            return
        owner = self.server.owner
        kind = owner.arrive(body.get("messages") or [])
        try:
            self._answer(owner, kind, body)
        except OSError:  # the client gave up (timeout), or the server went down: expected
            self.close_connection = True
        finally:
            owner.finish()

    def _answer(self, owner: LocalTeacherServer, kind: str, body: dict[str, Any]) -> None:
        if kind == DROP:
            self.close_connection = True
            return
        if kind == RATE_LIMIT:
            headers = {
                "Retry-After": str(math.ceil(owner.retry_after_s)),
                "retry-after-ms": str(int(owner.retry_after_s * 1000)),
            }
            self._json(
                429, error_body("Rate limit reached (injected)", "rate_limit_exceeded"), headers
            )
        elif kind == SERVER_ERROR:
            self._json(500, error_body("The server had an error (injected)", "server_error"))
        elif kind == UNAUTHORIZED:
            self._json(401, error_body("Incorrect API key provided (injected)", "invalid_api_key"))
        elif kind == BAD_REQUEST:
            self._json(
                400,
                error_body(
                    "This model's maximum context length is exceeded (injected)",
                    "context_length_exceeded",
                ),
            )
        else:
            time.sleep(owner.slow_s if kind == SLOW else owner.latency_s)
            if owner.down:  # the server went down while this answer was being made
                self.close_connection = True
                return
            messages = body.get("messages") or []
            text = unformatted_answer(messages) if kind == NO_MARKERS else owner.answer(messages)
            finish = "length" if kind == CUT_OFF else "stop"
            self._json(200, completion(body, text, messages, finish))

    def _json(
        self, status: int, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None
    ) -> None:
        raw = isinstance(payload, bytes)  # a file's content (Batch API)
        data = payload if raw else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if raw else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class Endpoint:
    """The URLs of a server listening on `host`:`port`."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        """The URL to give the openai client (`teacher.base_url`)."""
        return f"http://{self.host}:{self.port}/v1"

    def url_for(self, advertised_host: str) -> str:
        """The base URL as seen from another machine (when bound to 0.0.0.0)."""
        return f"http://{advertised_host}:{self.port}/v1"


class LocalTeacherServer(Endpoint):
    """An OpenAI-compatible chat completions server in a background thread.

    Args:
        answer: messages -> answer text; default: the papers' format, derived from the sample.
        latency_s: fixed time each answer takes.
        faults: rate of each injected fault (keys from FAULTS), drawn per request.
        fault_fn: (messages, request number) -> a fault kind or None; overrides `faults`.
        retry_after_s: what a 429 asks the client to wait.
        slow_s: how long a SLOW answer takes (set it above the client's timeout).
        host: interface to bind ("0.0.0.0" to serve other nodes of a cluster).
        port: 0 picks a free port.
        model: the model name the server reports.
        seed: seed of the fault draws.
        batch_latency_s: how long a batch stays in progress (Batch API: `server.batch`, see
            recycle/testing/local_batch.py for its routes and faults).
        max_model_len: the context length /v1/models reports (as vLLM does); None: not reported.
        on_request: called with the headers of every POST request before it is answered.
    """

    def __init__(
        self,
        answer: Callable[[Messages], str] | None = None,
        latency_s: float = 0.0,
        faults: dict[str, float] | None = None,
        fault_fn: FaultFn | None = None,
        retry_after_s: float = 0.2,
        slow_s: float = 5.0,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "local-teacher",
        seed: int = 0,
        batch_latency_s: float = 0.5,
        max_model_len: int | None = None,
        on_request: RequestHook | None = None,
    ):
        unknown = set(faults or {}) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; known: {FAULTS}")
        self.answer = answer or default_answer
        self.latency_s, self.retry_after_s, self.slow_s = latency_s, retry_after_s, slow_s
        self.faults, self.fault_fn = dict(faults or {}), fault_fn
        self.host, self.port, self.model = host, port, model
        self.stats = ServerStats()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.down = False  # stopped: answers being made are not sent
        self._outages: list[Outage] = []
        self.batch = LocalBatchService(self, batch_latency_s)
        self.max_model_len = max_model_len
        self.on_request = on_request

    def start(self) -> LocalTeacherServer:
        """Bind and serve in a daemon thread; after a `stop()`, on the same port as before."""
        self._server = _Server((self.host, self.port), _Handler)
        self.down = False
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-teacher", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and release the port: clients see it gone."""
        if self._server is not None:
            self.down = True
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
            self._server = None

    def outage(self, duration_s: float, after_requests: int = 0) -> Outage:
        """In the background: once `after_requests` requests arrived, stop for `duration_s`, restart."""
        outage = Outage(self, duration_s, after_requests)
        self._outages.append(outage)
        return outage.begin()

    def __enter__(self) -> LocalTeacherServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        for outage in self._outages:
            outage.end_now()
        self.batch.stop()
        self.stop()

    def reset_stats(self) -> None:
        """Forget what was counted so far."""
        with self._lock:
            self.stats = ServerStats()

    def arrive(self, messages: Messages) -> str:
        """Count a request arriving; the fault kind it gets (OK when none)."""
        with self._lock:
            n = self.stats.requests
            self.stats.requests += 1
            self.stats.arrivals.append(time.monotonic())
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            kind = self.fault_fn(messages, n) if self.fault_fn else self._draw()
            kind = kind or OK
            self.stats.by_kind[kind] += 1
        return kind

    def _draw(self) -> str | None:
        u, edge = self._rng.random(), 0.0
        for kind, rate in self.faults.items():
            edge += rate
            if u < edge:
                return kind
        return None

    def finish(self) -> None:
        """Count a request answered."""
        with self._lock:
            self.stats.in_flight -= 1
            self.stats.finishes.append(time.monotonic())


class Outage:
    """A scheduled outage of a LocalTeacherServer; `began` / `ended` are monotonic times."""

    def __init__(self, server: LocalTeacherServer, duration_s: float, after_requests: int):
        self.server, self.duration_s, self.after_requests = server, duration_s, after_requests
        self.began: float | None = None
        self.ended: float | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-teacher-outage", daemon=True)

    def begin(self) -> Outage:
        self._thread.start()
        return self

    def _run(self) -> None:
        while self.server.stats.requests < self.after_requests:
            if self._cancel.wait(0.05):
                return
        self.began = time.monotonic()
        self.server.stop()
        self._cancel.wait(self.duration_s)
        self.server.start()
        self.ended = time.monotonic()

    def end_now(self) -> None:
        """Cut the outage short (or cancel it if it has not begun); returns once the server is up."""
        self._cancel.set()
        self.join()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the server is back (or the outage was cancelled)."""
        self._thread.join(timeout)
