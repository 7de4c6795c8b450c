"""What a rerun of `recycle run` does again, and a manifest that adds up across invocations.

A rerun skips every sample already written, except the rejects left for a rerun (retry/:
teacher_unavailable, budget) when `output.retry_rejected` is on: those are done again, and the
teacher cache answers whatever was already paid for. Each invocation that ends (finished, or
stopped by a teacher outage) is recorded in the manifest's "invocations"; the manifest's
"teacher" section sums them, and the budget counts what earlier invocations spent. An invocation
killed outright (SIGKILL, preemption) records nothing: its answers are in the cache, its spend
is not in the totals.
"""

from __future__ import annotations

import logging
import posixpath
import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import ray

from recycle import columns as C
from recycle.rundir import MANIFEST, delete_transient, read_manifest, written_id_array
from recycle.storage import file_exists

STREAM_PARTS = (
    "part"  # the part files of the streamed rows (VALIDATE_PARTS: recycle.pipeline.steps)
)

log = logging.getLogger(__name__)

NOT_SUMMED = {"max_cost_usd", "max_outage_s", "outage_s", "longest_outage_s"}
FINISHED, STOPPED = "finished", "stopped"


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
    """The invocations recorded in the run directory's manifest (none for a fresh directory)."""
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


def invocation(status: str, started: float, teacher: dict[str, Any]) -> dict[str, Any]:
    """The record of this invocation: when, how it ended, what the teacher did and cost."""
    counters = {k: v for k, v in teacher.items() if k not in ("model", "base_url", "cache_dir")}
    return {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "status": status,
        "teacher": counters,
    }


def add_up(summary: dict[str, Any], invocations: list[dict[str, Any]]) -> dict[str, Any]:
    """This invocation's teacher summary with every counter summed over all invocations."""
    out = dict(summary)
    errors: dict[str, int] = {}
    sums: dict[str, float] = {}
    for record in invocations:
        teacher = record.get("teacher") or {}
        for key, value in teacher.items():
            summable = isinstance(value, int | float) and not isinstance(value, bool)
            if summable and key not in NOT_SUMMED:
                sums[key] = sums.get(key, 0) + value
        for kind, n in (teacher.get("errors") or {}).items():
            errors[kind] = errors.get(kind, 0) + n
    out.update(sums)
    if "cost_usd" in out:
        out["cost_usd"] = round(out["cost_usd"], 6)
    out["errors"] = dict(sorted(errors.items()))
    out["invocations"] = len(invocations)
    return out
