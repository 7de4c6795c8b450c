"""The batch backend: requests gathered into OpenAI Batch API jobs, polled while the pipeline streams.

Each `send` parks its request; after `teacher.batch_linger_s` (or as soon as a file is full) the
parked requests go out as JSONL batch files (`files.create(purpose="batch")`, `batches.create`),
each polled every `teacher.batch_poll_s` (with jitter) by its own task, so one teacher actor keeps
many batches in flight. Answers are mapped back by custom_id (the request's cache key).

What happens to what (the client above retries, rejects and stops; see backend.py):
- an answer: returned; a per-request error in the error file: a SendFailure marked endpoint_ok
  (5xx, rate limit, batch_expired: retried, so it goes into a later batch, at most
  teacher.max_retries times; 400: the sample is rejected with the server's reason);
- a batch that expired or was cancelled: what it completed is kept, the rest retried;
- a batch refused as too large: split in halves and submitted again; any other failed
  validation stops the job with the server's message;
- an upload or create that fails: every request of the file fails once, as an HTTP error would.
Every batch is journaled (batch_files.BatchJournal) before it is waited on; a rerun that asks for
a journaled request polls that batch instead of paying for the request again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import openai

from recycle.config.teacher import TeacherConfig
from recycle.teacher import backend as teacher_backend
from recycle.teacher import batch_calls
from recycle.teacher import batch_files as teacher_batch_files
from recycle.teacher.endpoint import open_client
from recycle.teacher.online import failure_of, short

log = logging.getLogger(__name__)

DONE = {"completed", "expired", "cancelled", "failed"}
SIZE_CODES = {"token_limit_exceeded", "request_limit_exceeded", "batch_too_large", "too_large"}
METADATA_KEY = "recycle_request_set"


@dataclass
class _Waiting:
    future: asyncio.Future
    body: dict[str, Any]
    batch_id: str | None = None  # the batch answering it now (None: not submitted yet)


class BatchBackend:
    """Batch API requests for one TeacherClient (one teacher actor). Not thread-safe: one event loop.

    Args:
        cfg: the teacher config (batch_* settings).
        journal_dir: where batch records are kept (beside the answer cache); None: not kept, so
            an interrupted job cannot pick up its batches.
        client: an openai.AsyncOpenAI (tests); None opens one.
        board: the job's gate, told when a batch opens and closes (`batch_event`), for progress.
    """

    def __init__(
        self,
        cfg: TeacherConfig,
        journal_dir: str | None,
        client: Any = None,
        board: Any = None,
    ):
        self.cfg = cfg
        self.client = client or open_client(cfg)
        self.journal = teacher_batch_files.BatchJournal(journal_dir) if journal_dir else None
        self.board = board
        self.max_in_flight: int | None = None
        self.max_requests = cfg.batch_max_requests  # lowered when the server refuses a size
        self._waiting: dict[str, _Waiting] = {}
        self._pending: dict[str, bytes] = {}
        self._pending_bytes = 0
        self._known: dict[str, teacher_batch_files.BatchRecord] | None = (
            None  # journaled, not yet polled here
        )
        self._results: dict[
            str, teacher_backend.Reply | teacher_backend.SendFailure
        ] = {}  # answered, not yet asked for
        self._open: dict[str, float] = {}  # batch id -> submitted at (wall clock)
        self._tasks: set[asyncio.Task] = set()
        self._watched: set[str] = set()  # batch ids with a task following them
        self._flusher: asyncio.Task | None = None
        self._load_lock = asyncio.Lock()
        self._rng = random.Random()
        self.counts = {"submitted": 0, "done": 0, "resumed": 0, "call_retries": 0}

    async def send(self, key: str, body: dict[str, Any]) -> teacher_backend.Reply:
        """The answer to one request, once the batch holding it is done."""
        await self._load_journal()
        if key in self._results:
            result = self._results.pop(key)
        else:
            waiting = self._waiting.get(key)
            if waiting is None:
                waiting = _Waiting(asyncio.get_running_loop().create_future(), body)
                self._waiting[key] = waiting
                self._route(key, body)
            result = await asyncio.shield(waiting.future)
        if isinstance(result, teacher_backend.SendFailure):
            raise result
        return result

    def _route(self, key: str, body: dict[str, Any]) -> None:
        record = self._known.get(key) if self._known else None
        if record is not None:  # an earlier run submitted it: wait for that batch
            self._waiting[key].batch_id = record.batch_id
            if record.batch_id not in self._watched:
                self.counts["resumed"] += 1
                self._watch(record, first_wait_s=0.0)
            return
        self._enqueue(key, body)

    def _enqueue(self, key: str, body: dict[str, Any]) -> None:
        line = teacher_batch_files.batch_line(key, body)
        self._pending[key] = line
        self._pending_bytes += len(line)
        full = (
            len(self._pending) >= self.max_requests
            or self._pending_bytes >= self.cfg.batch_max_bytes
        )
        if full:
            self._flush()
        elif self._flusher is None:
            self._flusher = self._spawn(self._linger())

    async def _linger(self) -> None:
        await asyncio.sleep(self.cfg.batch_linger_s)
        self._flusher = None
        self._flush()

    def _flush(self) -> None:
        if self._flusher is not None and self._flusher is not asyncio.current_task():
            self._flusher.cancel()
        self._flusher = None
        pending, self._pending, self._pending_bytes = self._pending, {}, 0
        if not pending:
            return
        for chunk in teacher_batch_files.chunks(
            pending.items(), self.max_requests, self.cfg.batch_max_bytes
        ):
            self._spawn(self._submit(chunk))

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _submit(self, chunk: list[tuple[str, bytes]]) -> None:
        """Upload, journal (intent, then the batch id), create, then poll until done."""
        keys = [k for k, _ in chunk]
        try:
            await self._submit_keys(keys, chunk)
        except (OSError, ValueError) as err:  # the journal could not be written: nothing waits
            failure = teacher_backend.SendFailure(
                teacher_backend.CONNECTION, f"batch not submitted: {err}"
            )
            self._deliver_all(keys, failure, None)
            raise

    async def _submit_keys(self, keys: list[str], chunk: list[tuple[str, bytes]]) -> None:
        request_set = teacher_batch_files.request_set_hash(keys)
        try:
            upload = await self._retrying(
                self.client.files.create,
                file=(f"recycle-{request_set[:16]}.jsonl", b"".join(line for _, line in chunk)),
                purpose="batch",
            )
            record = teacher_batch_files.BatchRecord(
                request_set, keys, upload.id, None, time.time()
            )
            await self._journal(record)
            batch = await self._retrying(
                self.client.batches.create,
                input_file_id=upload.id,
                endpoint=teacher_batch_files.CHAT_URL,
                completion_window=self.cfg.batch_completion_window,
                metadata={METADATA_KEY: request_set},
            )
        except openai.APIError as err:
            self._deliver_all(keys, failure_of(err), None)
            return
        record.batch_id = batch.id
        for key in keys:
            waiting = self._waiting.get(key)
            if waiting is not None and waiting.batch_id is None:
                waiting.batch_id = batch.id
        await self._journal(record)
        self.counts["submitted"] += 1
        self._watched.add(batch.id)
        await self._follow(record, self.cfg.batch_poll_s)

    async def _retrying(self, call: Any, **kwargs: Any) -> Any:
        def count() -> None:
            self.counts["call_retries"] += 1

        return await batch_calls.retrying(call, self.cfg, self._rng, count, **kwargs)

    def _watch(self, record: teacher_batch_files.BatchRecord, first_wait_s: float) -> None:
        self._watched.add(record.batch_id)
        self._spawn(self._follow(record, first_wait_s))

    async def _follow(self, record: teacher_batch_files.BatchRecord, first_wait_s: float) -> None:
        """Poll a batch until it is done and hand out its results; every waiter gets an answer."""
        batch_id = record.batch_id
        self._open[batch_id] = record.submitted_at
        self._tell(batch_id, record.submitted_at)
        try:
            batch = await self._poll(record, first_wait_s)
            if batch is not None:
                await self._finish(batch, record)
        except openai.APIError as err:
            self._deliver_all(record.keys, failure_of(err), batch_id)
        finally:
            self._open.pop(batch_id, None)
        self._tell(batch_id, None)  # not when cancelled: the batch is still open on the server

    async def _poll(self, record: teacher_batch_files.BatchRecord, wait_s: float) -> Any:
        """The batch once it is done; None when the endpoint stayed unreachable (requests failed)."""
        failing_since: float | None = None
        while True:
            await asyncio.sleep(wait_s)
            wait_s = self.cfg.batch_poll_s * self._rng.uniform(0.8, 1.2)
            try:
                batch = await self.client.batches.retrieve(record.batch_id)
            except openai.APIError as err:
                failure = failure_of(err)
                failing_since = failing_since or time.monotonic()
                if (
                    not failure.transient
                    or time.monotonic() - failing_since > self.cfg.max_outage_s
                ):
                    self._deliver_all(record.keys, failure, record.batch_id)
                    return None
                log.warning("polling batch %s failed (%s); again", record.batch_id, failure.message)
                continue
            failing_since = None
            if batch.status in DONE:
                return batch

    async def _finish(self, batch: Any, record: teacher_batch_files.BatchRecord) -> None:
        self.counts["done"] += 1
        if batch.status == "failed":
            self._refused(batch, record)
            return
        results: dict[str, teacher_backend.Reply | teacher_backend.SendFailure] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                text = (await self._retrying(self.client.files.content, file_id=file_id)).text
                results.update(teacher_batch_files.read_results(text))
        missing = teacher_backend.SendFailure(
            teacher_backend.EXPIRED,
            f"batch {batch.id} {batch.status} before answering",
            endpoint_ok=True,
        )
        for key in record.keys:
            self._deliver(key, results.get(key, missing), batch.id)

    def _refused(self, batch: Any, record: teacher_batch_files.BatchRecord) -> None:
        """A batch that failed validation: split when it was too large, else stop the job."""
        errors = list(getattr(batch.errors, "data", None) or [])
        message = "; ".join(short(f"{e.code}: {e.message}") for e in errors) or "no reason given"
        too_large = any(e.code in SIZE_CODES for e in errors)
        if too_large and len(record.keys) > 1:
            self.max_requests = max(1, min(self.max_requests, len(record.keys) // 2))
            log.warning(
                "batch %s refused as too large (%s); sending at most %d requests per batch",
                batch.id,
                message,
                self.max_requests,
            )
            for key in record.keys:
                self._forget(key, batch.id)
                waiting = self._waiting.get(key)
                if waiting is not None and waiting.batch_id == batch.id:
                    waiting.batch_id = None
                    self._enqueue(key, waiting.body)
            return
        failure = teacher_backend.SendFailure(
            teacher_backend.INVALID_BATCH, f"batch {batch.id} failed: {message}"
        )
        self._deliver_all(record.keys, failure, batch.id)

    def _deliver(
        self,
        key: str,
        result: teacher_backend.Reply | teacher_backend.SendFailure,
        batch_id: str | None,
    ) -> None:
        """Hand a batch's result for `key` to whoever waits for it.

        An answer is good from any batch. A failure only counts from the batch that holds the key
        now: an old batch of an earlier run (expired, refused) must not send it out again while a
        newer batch is answering it.
        """
        self._forget(key, batch_id)
        waiting = self._waiting.get(key)
        if isinstance(result, teacher_backend.Reply):
            if waiting is None:
                self._results[key] = result  # from a resumed batch, asked for later
                return
        elif waiting is None or waiting.batch_id != batch_id:
            return
        del self._waiting[key]
        if not waiting.future.done():
            waiting.future.set_result(result)

    def _deliver_all(
        self, keys: list[str], failure: teacher_backend.SendFailure, batch_id: str | None
    ) -> None:
        for key in keys:
            self._deliver(key, failure, batch_id)

    def _forget(self, key: str, batch_id: str | None) -> None:
        """The journal's batch for `key` is done: a later ask goes to a new batch."""
        record = self._known.get(key) if self._known else None
        if record is not None and record.batch_id == batch_id:
            del self._known[key]

    def _tell(self, batch_id: str, opened_at: float | None) -> None:
        if self.board is not None:
            self.board.batch_event(batch_id, opened_at)

    async def _journal(self, record: teacher_batch_files.BatchRecord) -> None:
        if self.journal is not None:
            await asyncio.to_thread(self.journal.write, record)

    async def _load_journal(self) -> None:
        """Read the journal once: which requests sit in batches an earlier run submitted."""
        if self._known is not None:
            return
        async with self._load_lock:
            if self._known is not None:
                return
            records = await asyncio.to_thread(self.journal.load) if self.journal else []
            if any(r.batch_id is None for r in records):
                await self._adopt(records)
            self._known = {k: r for r in records if r.batch_id for k in r.keys}

    async def _adopt(self, records: list[teacher_batch_files.BatchRecord]) -> None:
        """Find the batches created but not journaled (interrupted in between) by their metadata."""
        orphans = {r.request_set: r for r in records if r.batch_id is None}
        try:
            async for batch in self.client.batches.list(limit=100):
                record = orphans.get((batch.metadata or {}).get(METADATA_KEY, ""))
                if record is not None and record.batch_id is None:
                    record.batch_id = batch.id
                    await self._journal(record)
        except openai.APIError as err:
            log.warning("could not list batches to resume (%s); their requests are sent again", err)

    async def reachable(self) -> bool:
        """Per-request errors of a finished batch already say the endpoint answered; a failed
        upload or poll is an outage sign, so the circuit gets no second opinion here."""
        return False

    def status(self) -> dict[str, Any]:
        """Batches submitted / in flight / done here, and the age of the oldest one in flight."""
        now = time.time()
        oldest = max((now - t for t in self._open.values()), default=0.0)
        return {**self.counts, "in_progress": len(self._open), "oldest_age_s": round(oldest, 1)}

    async def aclose(self) -> None:
        """Stop polling (the journal keeps the batches for a rerun) and close the connections."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.close()
