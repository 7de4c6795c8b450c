"""The Batch API of the local teacher server: files, batches, polling, output and error files.

Routes (under /v1): POST /files (multipart, purpose=batch), GET /files/{id}/content,
POST /batches, GET /batches/{id}, GET /batches (list), POST /batches/{id}/cancel.
A batch is `in_progress` for `latency_s`, then each line is answered as the chat endpoint would
(the server's faults apply per line: 500 and 429 go to the error file, 400 too, an answer
without markers to the output file), and the batch is `completed`.

Faults of whole files and batches, injected through this object (`server.batch`):
    fail_uploads(n)          the next n uploads answer HTTP 500
    expire_half(n)           the next n batches expire with half their lines answered
    refuse_over(n)           a batch of more than n requests fails as too large
    fail_validation(message) the next batch fails validation with this message
What was answered is counted by custom_id (`paid`), so a test can check no prompt is paid twice.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from recycle.testing.local_answers import completion, error_body, unformatted_answer


class RequestCounter(Protocol):
    """What the batch service needs of its server: its answers and its per-request accounting."""

    answer: Callable[[list[dict[str, Any]]], str]

    def arrive(self, messages: list[dict[str, Any]]) -> str:
        """Count a request arriving; the fault kind it gets."""
        ...

    def finish(self) -> None:
        """Count a request answered."""
        ...


Response = tuple[int, Any]  # (HTTP status, JSON payload or raw bytes)
LINE_ERRORS = {"server_error": 500, "rate_limit": 429, "bad_request": 400}


class LocalBatchService:
    """The Batch API state of one LocalTeacherServer (thread-safe: the server is threaded)."""

    def __init__(self, owner: RequestCounter, latency_s: float = 0.5):
        self.owner = owner
        self.latency_s = latency_s
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.paid: Counter[str] = Counter()  # custom_id -> times answered with 200
        self.uploads = self.created = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._upload_failures = self._download_failures = self._expiring = 0
        self._refuse_over: int | None = None
        self._invalid: str | None = None
        self._timers: list[threading.Timer] = []

    # --- faults ---
    def fail_uploads(self, n: int = 1) -> None:
        """The next n uploads answer HTTP 500."""
        self._upload_failures = n

    def fail_downloads(self, n: int = 1) -> None:
        """The next n downloads of a file's content answer HTTP 500."""
        self._download_failures = n

    def expire_half(self, n: int = 1) -> None:
        """The next n batches expire with half their requests answered."""
        self._expiring = n

    def refuse_over(self, n: int | None) -> None:
        """Batches of more than n requests fail validation as too large (None: no limit)."""
        self._refuse_over = n

    def fail_validation(self, message: str) -> None:
        """The next batch fails validation with this message."""
        self._invalid = message

    # --- routes ---
    def handles(self, path: str) -> bool:
        """Whether a path is one of the Batch API's."""
        return "/files" in path or "/batches" in path

    def route(self, method: str, path: str, headers: Any, body: bytes) -> Response:
        """Answer one request."""
        parts = path.split("?")[0].rstrip("/").split("/")
        tail = parts[parts.index("v1") + 1 :] if "v1" in parts else parts[1:]
        if method == "POST" and tail == ["files"]:
            return self._upload(headers.get("Content-Type", ""), body)
        if method == "GET" and len(tail) == 3 and tail[0] == "files" and tail[2] == "content":
            with self._lock:
                data = self.files.get(tail[1])
                if self._download_failures > 0:
                    self._download_failures -= 1
                    return 500, error_body("download failed (injected)", "server_error")
            return (200, data) if data is not None else _missing("file", tail[1])
        if method == "POST" and tail == ["batches"]:
            return self._create(json.loads(body or b"{}"))
        if method == "GET" and tail == ["batches"]:
            with self._lock:
                data = [dict(b) for b in self.batches.values()]
            return 200, {"object": "list", "data": data, "has_more": False}
        if method == "GET" and len(tail) == 2 and tail[0] == "batches":
            with self._lock:
                batch = self.batches.get(tail[1])
                return (200, dict(batch)) if batch else _missing("batch", tail[1])
        if method == "POST" and len(tail) == 3 and tail[2] == "cancel":
            return self._cancel(tail[1])
        return 404, error_body(f"no route {method} {path}", "not_found")

    def _upload(self, content_type: str, body: bytes) -> Response:
        with self._lock:
            if self._upload_failures > 0:
                self._upload_failures -= 1
                return 500, error_body(
                    "The server had an error while uploading (injected)", "server_error"
                )
            fields = _multipart(content_type, body)
            data = fields.get("file", b"")
            file_id = f"file-local-{next(self._ids)}"
            self.files[file_id] = data
            self.uploads += 1
        return 200, {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": "batch.jsonl",
            "purpose": (fields.get("purpose") or b"batch").decode(),
            "status": "processed",
        }

    def _create(self, params: dict[str, Any]) -> Response:
        with self._lock:
            data = self.files.get(params.get("input_file_id", ""))
            if data is None:
                return _missing("file", params.get("input_file_id"))
            batch_id = f"batch-local-{next(self._ids)}"
            batch = {
                "id": batch_id,
                "object": "batch",
                "endpoint": params.get("endpoint"),
                "input_file_id": params["input_file_id"],
                "completion_window": params.get("completion_window", "24h"),
                "status": "in_progress",
                "created_at": int(time.time()),
                "metadata": params.get("metadata"),
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
            }
            self.batches[batch_id] = batch
            self.created += 1
            lines = [json.loads(x) for x in data.decode("utf-8").splitlines() if x.strip()]
            refusal = self._refusal(lines)
            expire = self._expiring > 0 and refusal is None
            self._expiring -= int(expire)
        if refusal is not None:
            self._end(batch_id, "failed", errors={"object": "list", "data": [refusal]})
        else:
            timer = threading.Timer(self.latency_s, self._run, (batch_id, lines, expire))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        return 200, dict(batch)

    def _refusal(self, lines: list[dict[str, Any]]) -> dict[str, Any] | None:
        if self._invalid is not None:
            message, self._invalid = self._invalid, None
            return {"code": "invalid_request", "message": message, "line": 1}
        if self._refuse_over is not None and len(lines) > self._refuse_over:
            return {
                "code": "token_limit_exceeded",
                "message": f"the batch holds {len(lines)} requests, at most {self._refuse_over} (injected)",
            }
        return None

    def _run(self, batch_id: str, lines: list[dict[str, Any]], expire: bool) -> None:
        """Answer a batch's lines (half of them when it expires) and write its files."""
        answered = lines[: len(lines) // 2] if expire else lines
        out, err = [], []
        for line in answered:
            status, body = self._answer(line.get("body") or {})
            entry = {
                "id": f"req-{next(self._ids)}",
                "custom_id": line.get("custom_id"),
                "response": {"status_code": status, "request_id": "local", "body": body},
                "error": None,
            }
            (out if status == 200 else err).append(entry)
            if status == 200:
                with self._lock:
                    self.paid[line.get("custom_id")] += 1
        for line in lines[len(answered) :]:
            err.append(
                {
                    "id": f"req-{next(self._ids)}",
                    "custom_id": line.get("custom_id"),
                    "response": None,
                    "error": {
                        "code": "batch_expired",
                        "message": "This request could not be executed before the completion window expired.",
                    },
                }
            )
        counts = {"total": len(lines), "completed": len(out), "failed": len(err)}
        self._end(batch_id, "expired" if expire else "completed", out, err, counts)

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One line answered as POST /chat/completions would (the server's per-request faults)."""
        owner = self.owner
        messages = body.get("messages") or []
        kind = owner.arrive(messages)
        try:
            if kind in ("ok", "no_markers", "slow", "cut_off"):
                text = (
                    unformatted_answer(messages) if kind == "no_markers" else owner.answer(messages)
                )
                return 200, completion(
                    body, text, messages, "length" if kind == "cut_off" else "stop"
                )
            status = LINE_ERRORS.get(kind, 500)
            return status, error_body(f"{kind} (injected)", kind)
        finally:
            owner.finish()

    def _end(
        self,
        batch_id: str,
        status: str,
        out: list | None = None,
        err: list | None = None,
        counts: dict | None = None,
        errors: dict | None = None,
    ) -> None:
        with self._lock:
            batch = self.batches[batch_id]
            for name, entries in (("output_file_id", out), ("error_file_id", err)):
                if entries:
                    file_id = f"file-local-{next(self._ids)}"
                    self.files[file_id] = "".join(json.dumps(e) + "\n" for e in entries).encode()
                    batch[name] = file_id
            batch.update(
                status=status, errors=errors, request_counts=counts or batch["request_counts"]
            )
            batch[f"{status}_at"] = int(time.time())

    def _cancel(self, batch_id: str) -> Response:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return _missing("batch", batch_id)
            if batch["status"] == "in_progress":
                batch["status"] = "cancelling"
            return 200, dict(batch)

    def stop(self) -> None:
        """Stop answering batches still in progress."""
        for timer in self._timers:
            timer.cancel()


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[str(name)] = part.get_payload(decode=True) or b""
    return fields


def _missing(what: str, ident: Any) -> Response:
    return 404, error_body(f"no {what} {ident}", "not_found")
