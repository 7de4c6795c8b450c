"""What a rerun of `recycle run` does again, and a manifest that adds up across invocations.

A rerun skips every sample already written, except the rejects left for a rerun (retry/:
teacher_unavailable, budget) when `output.retry_rejected` is on: those are done again, and the
teacher cache answers whatever was already paid for. Each invocation that ends (finished, or
stopped by a teacher outage) is recorded in the manifest's "invocations"; the manifest's
"teacher" section sums them, and the budget counts what earlier invocations spent.

An invocation killed outright (SIGKILL, OOM, preemption) writes no manifest, so while the stream
runs its teacher totals are persisted in the run directory (`InvocationJournal`: one small JSON
file per invocation, rewritten by the job's gate whenever they changed, each request on record
before it leaves: recycle.teacher.write_ahead). The next invocation
counts each journal file no manifest recorded as "killed" ("failed", "interrupted": ended by an
exception or Ctrl-C before its manifest) with those totals, in the totals and the budget, and
writes it into its manifest; the invocation after that deletes the files its manifest holds.
Records carry an id, and a journal file whose id a manifest holds is never counted again: each
invocation is counted once across any sequence of kills and reruns (manifests are written whole
or not at all).

A killed invocation's record counts every request that left (and the few the gate let go that
had not left yet); those not answered by the kill are counted as the gate counts them (in
"requests" and "unsettled", their reservation in "cost_usd"), and the tokens of answers settled
after the last write are missing (their reservation stands in for them when there is a budget).
"""

from __future__ import annotations

import json
import logging
import posixpath
import time
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import ray

from recycle import columns as C
from recycle.rundir import (
    INVOCATIONS_DIR,
    MANIFEST,
    delete_transient,
    read_manifest,
    written_id_array,
)
from recycle.storage import file_exists, filesystem, glob_files, read_json, write_bytes_atomic

STREAM_PARTS = (
    "part"  # the part files of the streamed rows (VALIDATE_PARTS: recycle.pipeline.steps)
)

log = logging.getLogger(__name__)

NOT_SUMMED = {"max_cost_usd", "max_outage_s", "outage_s", "longest_outage_s"}
FINISHED, STOPPED = "finished", "stopped"
# how an invocation that wrote no manifest ended (InvocationJournal; "running" until it ends)
RUNNING, KILLED, FAILED, INTERRUPTED = "running", "killed", "failed", "interrupted"


def remaining(
    ds: ray.data.Dataset, run_dir: str, part_prefix: str, retry_rejected: bool = True
) -> ray.data.Dataset:
    """The samples an earlier invocation did not finish (with `retry_rejected`, nor reject transiently).

    The rejects to retry are deleted from the run directory: their samples are being done again.
    """
    written = written_id_array(run_dir, part_prefix, transient=not retry_rejected)
    if retry_rejected and (n := delete_transient(run_dir)):
        log.info("retrying the samples of %d part file(s) of transient rejects", n)
    if not len(written):
        return ds
    log.info("resuming: %d samples already written, skipping them", len(written))
    return ds.map_batches(
        _not_written, fn_kwargs={"written": written}, batch_format="pyarrow", batch_size=None
    ).materialize()


def _not_written(batch: pa.Table, written: pa.Array) -> pa.Table:
    return batch.filter(pc.invert(pc.is_in(batch[C.SAMPLE_ID], value_set=written)))


def previous_invocations(run_dir: str) -> list[dict[str, Any]]:
    """The invocations of the run directory: the manifest's, then (oldest first) those of the
    journal that no manifest recorded, as "killed" ("failed" or "interrupted" where it says so)
    with their last persisted teacher totals. None for a fresh directory.

    The journal files of invocations the manifest holds are deleted here: it counts them.
    """
    recorded = _recorded(run_dir)
    ids = {r["id"] for r in recorded if "id" in r}
    unrecorded = []
    fs, path = filesystem(run_dir)
    for name in glob_files(fs, posixpath.join(path, INVOCATIONS_DIR, "*.json")):
        record = read_json(fs, name)
        if record.get("id") in ids:
            fs.delete_file(name)
        else:
            status = record["status"] if record.get("status") in (FAILED, INTERRUPTED) else KILLED
            unrecorded.append({**record, "status": status})
    if unrecorded:
        log.info("counting %d invocation(s) that ended without a manifest", len(unrecorded))
    return recorded + unrecorded


def _recorded(run_dir: str) -> list[dict[str, Any]]:
    """The invocations the run directory's manifest records."""
    if not file_exists(posixpath.join(run_dir, MANIFEST)):
        return []
    manifest = read_manifest(run_dir)
    if "invocations" in manifest:
        return list(manifest["invocations"])
    if manifest.get("teacher"):  # a manifest written before invocations were recorded
        return [{"status": FINISHED, "teacher": manifest["teacher"]}]
    return []


def prior_cost_usd(invocations: list[dict[str, Any]]) -> float:
    """What earlier invocations spent on the teacher (counts to teacher.max_cost_usd)."""
    return sum(float((i.get("teacher") or {}).get("cost_usd") or 0.0) for i in invocations)


def invocation(
    status: str, started: float, teacher: dict[str, Any], key: str | None = None
) -> dict[str, Any]:
    """The record of this invocation: which (`key`, see `invocation_id`), when, how it ended,
    what the teacher did and cost."""
    counters = {k: v for k, v in teacher.items() if k not in ("model", "base_url", "cache_dir")}
    return {
        **({"id": key} if key else {}),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "status": status,
        "teacher": counters,
    }


def invocation_id(started: float) -> str:
    """A new invocation's key: its start (UTC, so names sort by it) and a random suffix."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(started))}-{uuid.uuid4().hex[:8]}"


class InvocationJournal:
    """This invocation's teacher totals, persisted while it runs: OUTPUT/invocations/<id>.json.

    `update` is handed the gate's totals by the gate actor (recycle.teacher.write_ahead: before
    each request leaves, and after settlements) and writes them, as an `invocation` record with status "running",
    only when a counter changed. Each write replaces the file whole (storage.write_bytes_atomic),
    on local disk or an object store. A rerun reads what a killed invocation left
    (`previous_invocations`).
    """

    def __init__(self, run_dir: str, started: float):
        self.id, self.started, self.run_dir = invocation_id(started), started, run_dir
        self.fs, path = filesystem(run_dir)
        self.folder = posixpath.join(path, INVOCATIONS_DIR)
        self._written: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Sent to the gate actor without its filesystem, which it opens again from the URI: a
        pickled S3 filesystem carries the credentials it resolved (secrets stay in the
        environment, never in an actor's arguments)."""
        return {k: v for k, v in self.__dict__.items() if k != "fs"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.fs, _ = filesystem(self.run_dir)

    def record(self, status: str, teacher: dict[str, Any]) -> dict[str, Any]:
        """This invocation's record, as the manifest keeps it."""
        return invocation(status, self.started, teacher, self.id)

    def update(self, totals: dict[str, Any]) -> None:
        """Persist the running `totals`, unless no counter changed since the last write."""
        counters = _counters(totals)
        if counters != self._written:
            self.write(self.record(RUNNING, totals))
            self._written = counters

    def ended(self, err: BaseException, teacher: dict[str, Any]) -> None:
        """Keep the final totals of an invocation ended by `err`, after which no manifest is
        written: "interrupted" (Ctrl-C) or "failed". A failed write is logged, `err` stands."""
        status = INTERRUPTED if isinstance(err, KeyboardInterrupt) else FAILED
        try:
            self.write(self.record(status, teacher))
        except OSError as write_err:
            log.warning("could not persist the teacher totals: %s", write_err)

    def write(self, record: dict[str, Any]) -> None:
        """Replace the journal file with `record`."""
        self.fs.create_dir(self.folder, recursive=True)
        data = json.dumps(record, indent=1).encode("utf-8")
        write_bytes_atomic(self.fs, posixpath.join(self.folder, f"{self.id}.json"), data)


def _summable(key: str, value: Any) -> bool:
    """A teacher counter `add_up` sums over invocations (not a setting, a flag or a gauge)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and key not in NOT_SUMMED


def _counters(teacher: dict[str, Any]) -> dict[str, Any]:
    """What `add_up` sums of a teacher summary: its counters and errors."""
    out = {k: v for k, v in teacher.items() if _summable(k, v)}
    return {**out, "errors": teacher.get("errors") or {}}


def add_up(summary: dict[str, Any], invocations: list[dict[str, Any]]) -> dict[str, Any]:
    """This invocation's teacher summary with every counter summed over all invocations."""
    out = dict(summary)
    errors: dict[str, int] = {}
    sums: dict[str, float] = {}
    for record in invocations:
        teacher = record.get("teacher") or {}
        for key, value in teacher.items():
            if _summable(key, value):
                sums[key] = sums.get(key, 0) + value
        for kind, n in (teacher.get("errors") or {}).items():
            errors[kind] = errors.get(kind, 0) + n
    out.update(sums)
    if "cost_usd" in out:
        out["cost_usd"] = round(out["cost_usd"], 6)
    out["errors"] = dict(sorted(errors.items()))
    out["invocations"] = len(invocations)
    return out
