"""Durable, content-addressed cache of teacher answers (local disk, s3://, gs:// via pyarrow).

One JSON file per answer, at `<cache_dir>/<key[:2]>/<key>.json`, where key is a hash of everything
that determines the answer: model, messages, sampling parameters, prompt version and attempt
number. Never the API key, the base URL or anything secret. Local files are written to a temporary
name and renamed (atomic); object stores make a single PUT visible atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from dataclasses import asdict, dataclass
from typing import Any

from recycle.storage import filesystem, write_bytes_atomic

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class CachedAnswer:
    """A teacher answer as stored: its text, why it stopped, and the tokens it used.

    `rejected` holds the endpoint's message when it refused the request itself (HTTP 400: the
    same request is refused again), so a rerun does not send it a second time.
    """

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    rejected: str | None = None


def cache_key(
    model: str,
    messages: list[dict[str, str]],
    sampling: dict[str, Any],
    prompt_version: str,
    attempt: int = 0,
) -> str:
    """Hash of what determines an answer; `attempt` separates the retries of an unparseable one."""
    blob = json.dumps(
        {
            "v": FORMAT_VERSION,
            "model": model,
            "messages": messages,
            "sampling": sampling,
            "prompt_version": prompt_version,
            "attempt": attempt,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """Get and put answers by key. Blocking I/O: call from a thread when inside an event loop."""

    def __init__(self, root: str):
        self.root = root
        self._fs, self._path = filesystem(root)
        self._made: set[str] = set()

    def _file(self, key: str) -> tuple[str, str]:
        folder = posixpath.join(self._path, key[:2])
        return folder, posixpath.join(folder, f"{key}.json")

    def get(self, key: str) -> CachedAnswer | None:
        """The stored answer, or None (absent, or unreadable: then it is fetched again)."""
        _, path = self._file(key)
        try:
            with self._fs.open_input_stream(path) as f:
                entry = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, UnicodeDecodeError) as err:
            log.warning(
                "teacher cache entry %s is unreadable (%s); asking the teacher again", path, err
            )
            return None
        try:
            return CachedAnswer(**entry["answer"])
        except (KeyError, TypeError) as err:
            log.warning(
                "teacher cache entry %s has an unexpected layout (%s); asking again", path, err
            )
            return None

    def put(self, key: str, answer: CachedAnswer, meta: dict[str, Any] | None = None) -> None:
        """Store an answer durably; a concurrent writer of the same key writes the same content."""
        folder, path = self._file(key)
        if folder not in self._made:
            self._fs.create_dir(folder, recursive=True)
            self._made.add(folder)
        payload = json.dumps(
            {"v": FORMAT_VERSION, "key": key, "answer": asdict(answer), **(meta or {})},
            ensure_ascii=False,
        ).encode("utf-8")
        write_bytes_atomic(self._fs, path, payload)
