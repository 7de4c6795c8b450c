"""The pure side of the batch backend: JSONL batch files, result lines, and the durable journal.

A batch file holds one line per request, `{custom_id, method, url, body}`, where custom_id is the
request's cache key (a content hash: the same request always gets the same id). Result lines come
back in the output file (answers) and the error file (per-request failures); both are read here
into `Reply` or `SendFailure`.

The journal remembers, beside the answer cache (local, s3://, gs://), every batch submitted and
which requests it holds, written before the job waits on it, so a rerun polls a batch it already
paid for instead of submitting its requests again. One JSON file per request set, named by the
set's hash: first written without a batch id (the intent, before `batches.create`), then with it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow.fs as pafs

from recycle.storage import filesystem, write_bytes_atomic
from recycle.teacher import backend as teacher_backend
from recycle.teacher.online import kind_of_status, short

log = logging.getLogger(__name__)

CHAT_URL = "/v1/chat/completions"
EXPIRED_CODES = {"batch_expired", "batch_cancelled"}
RATE_CODES = {"rate_limit_exceeded", "token_limit_exceeded"}


def batch_line(key: str, body: dict[str, Any]) -> bytes:
    """One line of a batch input file."""
    line = {"custom_id": key, "method": "POST", "url": CHAT_URL, "body": body}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def chunks(
    lines: Iterable[tuple[str, bytes]], max_requests: int, max_bytes: int
) -> list[list[tuple[str, bytes]]]:
    """Split (key, line) pairs into batch files of at most max_requests lines and max_bytes bytes.

    Raises:
        ValueError: one line alone is larger than max_bytes.
    """
    out: list[list[tuple[str, bytes]]] = []
    current: list[tuple[str, bytes]] = []
    size = 0
    for key, line in lines:
        if len(line) > max_bytes:
            raise ValueError(
                f"request {key[:12]} is {len(line)} bytes, over teacher.batch_max_bytes={max_bytes}"
            )
        if current and (len(current) >= max_requests or size + len(line) > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append((key, line))
        size += len(line)
    if current:
        out.append(current)
    return out


def request_set_hash(keys: Iterable[str]) -> str:
    """Hash of a set of request keys (order-free): names a batch in the journal and its metadata."""
    return hashlib.sha256("\n".join(sorted(keys)).encode("ascii")).hexdigest()


def read_result(
    entry: dict[str, Any],
) -> tuple[str, teacher_backend.Reply | teacher_backend.SendFailure]:
    """(custom_id, answer or failure) of one line of an output or error file."""
    key = str(entry.get("custom_id"))
    response, error = entry.get("response"), entry.get("error")
    if response and response.get("status_code") == 200:
        return key, _reply(response.get("body") or {})
    if response:
        status = int(response.get("status_code") or 500)
        err = (response.get("body") or {}).get("error") or {}
        message = short(err.get("message") or f"HTTP {status}")
        return key, teacher_backend.SendFailure(
            kind_of_status(status), message, status, endpoint_ok=True
        )
    err = error or {}
    code = str(err.get("code") or "")
    message = short(f"{code}: {err.get('message') or 'no answer'}")
    if code in EXPIRED_CODES:
        return key, teacher_backend.SendFailure(teacher_backend.EXPIRED, message, endpoint_ok=True)
    kind = teacher_backend.RATE_LIMITED if code in RATE_CODES else teacher_backend.SERVER_ERROR
    return key, teacher_backend.SendFailure(kind, message, endpoint_ok=True)


def _reply(body: dict[str, Any]) -> teacher_backend.Reply:
    choices = body.get("choices") or [{}]
    usage = body.get("usage")
    return teacher_backend.Reply(
        text=((choices[0].get("message") or {}).get("content")) or "",
        finish_reason=choices[0].get("finish_reason"),
        prompt_tokens=int(usage.get("prompt_tokens") or 0) if usage else None,
        completion_tokens=int(usage.get("completion_tokens") or 0) if usage else None,
    )


def read_results(text: str) -> dict[str, teacher_backend.Reply | teacher_backend.SendFailure]:
    """Every line of an output or error file, by custom_id; unreadable lines are logged, skipped."""
    out: dict[str, teacher_backend.Reply | teacher_backend.SendFailure] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            key, result = read_result(json.loads(raw))
        except (ValueError, TypeError, AttributeError) as err:
            log.warning(
                "batch result line %d is unreadable (%s); its request is asked again", n, err
            )
            continue
        out[key] = result
    return out


@dataclass
class BatchRecord:
    """What the journal keeps of one batch: its request set and, once created, its id."""

    request_set: str
    keys: list[str]
    input_file_id: str
    batch_id: str | None = None
    submitted_at: float = 0.0  # wall clock (time.time())
    extra: dict[str, Any] = field(default_factory=dict)


class BatchJournal:
    """Durable records of submitted batches. Blocking I/O: call from a thread inside an event loop."""

    def __init__(self, root: str):
        self.root = root
        self._fs, self._path = filesystem(root)
        self._made = False

    def write(self, record: BatchRecord) -> None:
        """Store (or replace) a record durably."""
        if not self._made:
            self._fs.create_dir(self._path, recursive=True)
            self._made = True
        path = posixpath.join(self._path, f"{record.request_set}.json")
        write_bytes_atomic(self._fs, path, json.dumps(asdict(record)).encode("utf-8"))

    def load(self) -> list[BatchRecord]:
        """Every readable record, oldest first."""
        selector = pafs.FileSelector(self._path, allow_not_found=True)
        records = []
        for info in self._fs.get_file_info(selector):
            if not info.path.endswith(".json"):
                continue
            try:
                with self._fs.open_input_stream(info.path) as f:
                    records.append(BatchRecord(**json.loads(f.read().decode("utf-8"))))
            except (OSError, ValueError, TypeError) as err:
                log.warning("batch journal entry %s is unreadable (%s); ignored", info.path, err)
        return sorted(records, key=lambda r: r.submitted_at)
