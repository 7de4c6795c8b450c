"""The run directory contract that users and later stages rely on.

OUTPUT/manifest.json   counts (input = kept + dropped + rejected, per reason), resolved config
                       without secrets, package versions, timings
OUTPUT/kept/*.parquet      rows kept, every column
OUTPUT/dropped/*.parquet   rows dropped by a selection rule, with the reason
OUTPUT/rejects/*.parquet   rows rejected for a final reason (bad input, a request the teacher
                           refuses...), reason and raw row
OUTPUT/retry/*.parquet     rows rejected for a transient reason (teacher_unavailable, budget): a
                           rerun of the same command retries them (output.retry_rejected)
OUTPUT/invocations/*.json  the teacher totals of an invocation while it runs, one file each, until
                           a manifest records it (recycle.pipeline.resume.InvocationJournal)
"""

from __future__ import annotations

import hashlib
import json
import platform
import posixpath
import time
from collections import Counter
from collections.abc import Callable
from importlib import metadata
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import ray

from recycle import __version__
from recycle import columns as C
from recycle.storage import filesystem, write_bytes_atomic, write_parquet_atomic

MANIFEST = "manifest.json"
INVOCATIONS_DIR = "invocations"  # the journal of invocations no manifest recorded yet
OUTCOME_DIRS = {C.OUTCOME_KEPT: "kept", C.OUTCOME_DROPPED: "dropped", C.OUTCOME_REJECTED: "rejects"}
RETRY_DIR = "retry"  # rejected rows a rerun retries (C.TRANSIENT_REASONS); outcome "rejected"
TURNS_DIR = "turns"  # conversations' turn rows, a run directory of their own (pipeline/turns.py)
# part files of the conversations reassembled from their turns (pipeline/reassemble.py): named as
# stream parts ("part-..."), so that a resumed run skips them like any streamed row
CONVERSATION_PARTS = "part-conversations"
PACKAGES = ("ray", "torch", "transformers", "openai", "pyarrow", "pydantic")

LIGHT_CPUS = 0.1  # a pandas step or a Parquet write: never waits behind the student for a CPU


def outcome_dir(run_dir: str, outcome: str, transient: bool = False) -> str:
    """URI of the folder holding the rows of one outcome (`transient`: the rejects to retry)."""
    name = RETRY_DIR if transient and outcome == C.OUTCOME_REJECTED else OUTCOME_DIRS[outcome]
    return posixpath.join(run_dir.rstrip("/"), name)


def _folders(run_dir: str, outcome: str, transient: bool | None) -> list[str]:
    """The folders of an outcome: rejected rows live in two (final, transient); None means both."""
    if outcome != C.OUTCOME_REJECTED:
        return [] if transient else [outcome_dir(run_dir, outcome)]
    kinds = (False, True) if transient is None else (transient,)
    return [outcome_dir(run_dir, outcome, t) for t in kinds]


def clear_outcomes(run_dir: str) -> None:
    """Delete the outcome folders, the manifest and the invocations' journal of a run directory
    (a fresh, non-resumed run)."""
    fs, path = filesystem(run_dir)
    for sub in (*OUTCOME_DIRS.values(), RETRY_DIR, TURNS_DIR, INVOCATIONS_DIR):
        target = posixpath.join(path, sub)
        if fs.get_file_info(target).type == pafs.FileType.Directory:
            fs.delete_dir(target)
    for name in (MANIFEST, RESUME_KEYS):
        target = posixpath.join(path, name)
        if fs.get_file_info(target).type == pafs.FileType.File:
            fs.delete_file(target)


NUMERIC_SUFFIXES = (
    C.LOSS_Y_GIVEN_X,
    C.LOSS_Y,
    C.LOSS_X_GIVEN_Y,
    C.LOSS_X,
    C.IFD,
    C.RIFD,
    C.COHERENCE,
    "_tokens",
)


def null_column_type(name: str) -> pa.DataType:
    """The type an all-null column of a batch is written with: float for scores, else string."""
    return pa.float64() if name.endswith(NUMERIC_SUFFIXES) else pa.string()


def _typed_nulls(table: pa.Table) -> pa.Table:
    """Columns that are all-null in a batch get their column's type, so part files share a schema."""
    for i, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            table = table.set_column(
                i, field.name, table.column(i).cast(null_column_type(field.name))
            )
    return table


def write_outcome_batch(batch: pa.Table, run_dir: str, part_prefix: str = "part") -> pa.Table:
    """Write a batch's rows into kept/, dropped/ and rejects/; return (outcome, reason, n) counts.

    Part files are named by a hash of the rows' sample ids, so a retried task overwrites its own
    file instead of writing the rows twice; each file appears whole or not at all (written under
    a hidden temporary name, then renamed), so a run killed mid-write leaves nothing half-read.
    Rejects for a transient reason go to retry/, apart from the final ones.
    """
    C.require_columns("write", batch.column_names, (C.SAMPLE_ID, C.OUTCOME, C.REASON))
    fs, _ = filesystem(run_dir)
    batch = _typed_nulls(batch)
    transient = pc.is_in(batch[C.REASON], pa.array(sorted(C.TRANSIENT_REASONS), pa.string()))
    transient = pc.fill_null(transient, False)
    for outcome in C.OUTCOMES:
        is_outcome = pc.equal(batch[C.OUTCOME], outcome)
        for retry in (False, True) if outcome == C.OUTCOME_REJECTED else (False,):
            mask = pc.and_(is_outcome, transient if retry else pc.invert(transient))
            part = batch.filter(mask)
            if part.num_rows:
                _write_part(fs, part, outcome_dir(run_dir, outcome, retry), part_prefix)
    counts = Counter(zip(batch[C.OUTCOME].to_pylist(), batch[C.REASON].to_pylist(), strict=True))
    return pa.table(
        {
            "outcome": [o for o, _ in counts],
            "reason": [r for _, r in counts],
            "n": list(counts.values()),
        }
    )


def _write_part(fs: pafs.FileSystem, part: pa.Table, folder_uri: str, part_prefix: str) -> None:
    digest = hashlib.sha256("\0".join(part[C.SAMPLE_ID].to_pylist()).encode()).hexdigest()[:24]
    _, folder = filesystem(folder_uri)
    write_parquet_atomic(fs, part, folder, f"{part_prefix}-{digest}")


def read_part(
    fs: pafs.FileSystem, path: str, columns: list[str] | None = None, missing_ok: bool = False
) -> pa.Table:
    """One part file (or its named columns), read on this thread.

    The driver reads a run's part files one after another (counts, export, report); through
    the dataset machinery of `pq.read_table`, 400 small files left it ~9 MB larger, ~2 MB so.
    `missing_ok`: only those of `columns` the file has (a run's files differ by mode and by
    conversation), decided from the footer the read opens anyway, not a second read of it.
    """
    with fs.open_input_file(path) as handle:
        part = pq.ParquetFile(handle)
        if missing_ok and columns is not None:
            names = set(part.schema_arrow.names)
            columns = [c for c in columns if c in names]
        return part.read(columns=columns, use_threads=False)


def write_outcomes(
    ds: ray.data.Dataset,
    run_dir: str,
    part_prefix: str = "part",
    write_batch: Callable[[pa.Table, str, str], pa.Table] = write_outcome_batch,
) -> None:
    """Stream a dataset with outcome columns into the run directory (through `write_batch`, e.g.
    pipeline.turns.write_stream_batch, which puts conversations' turn rows apart).

    The write tasks' small (outcome, reason, n) tables are consumed as they come, not kept: a
    materialized result would hold every block's reference on the driver until the end, and with
    them the lineage of every task of the stream, which grows with the rows.
    """
    written = ds.map_batches(
        write_batch,
        fn_kwargs={"run_dir": run_dir, "part_prefix": part_prefix},
        batch_format="pyarrow",
        num_cpus=LIGHT_CPUS,  # as the pandas step before it, so the two run as one task
    )
    for _ in written.iter_batches(batch_size=None, batch_format="pyarrow"):
        pass


def outcome_files(
    run_dir: str, outcome: str, part_prefix: str | None = None, transient: bool | None = None
) -> list[str]:
    """Paths (inside their filesystem) of the finished part files of one outcome.

    For rejected rows, `transient` picks the final ones (False), those to retry (True) or both.
    """
    names: list[str] = []
    for uri in _folders(run_dir, outcome, transient):
        fs, folder = filesystem(uri)
        if fs.get_file_info(folder).type != pafs.FileType.Directory:
            continue
        found = fs.get_file_info(pafs.FileSelector(folder))
        names += sorted(f.path for f in found if f.path.endswith(".parquet"))
    names = [n for n in names if not posixpath.basename(n).startswith(".")]
    if part_prefix is not None:
        names = [n for n in names if posixpath.basename(n).startswith(f"{part_prefix}-")]
    return names


def delete_parts(run_dir: str, part_prefix: str) -> None:
    """Remove the part files with a prefix from every outcome folder (a stage rewritten on resume)."""
    fs, _ = filesystem(run_dir)
    for outcome in C.OUTCOMES:
        for path in outcome_files(run_dir, outcome, part_prefix):
            fs.delete_file(path)


def delete_transient(run_dir: str) -> int:
    """Remove the rejects to retry (their samples are being done again); returns how many files."""
    fs, _ = filesystem(run_dir)
    files = outcome_files(run_dir, C.OUTCOME_REJECTED, transient=True)
    for path in files:
        fs.delete_file(path)
    return len(files)


def written_ids(run_dir: str, part_prefix: str = "part", transient: bool = True) -> set[str]:
    """Sample ids already written by the streaming stages, as a Python set (`written_id_array`)."""
    return set(written_id_array(run_dir, part_prefix, transient).to_pylist())


def written_id_array(run_dir: str, part_prefix: str = "part", transient: bool = True) -> pa.Array:
    """Sample ids already written by the streaming stages, each once: what a resumed run skips.

    An Arrow array (a few dozen bytes an id), not Python strings: a rerun of a 10M-row run holds
    them on the driver. `transient=False` leaves out the rejects to retry, so a rerun does those
    samples again.
    """
    fs, _ = filesystem(run_dir)
    chunks = [
        read_part(fs, path, [C.SAMPLE_ID])[C.SAMPLE_ID].combine_chunks().cast(pa.string())
        for outcome in C.OUTCOMES
        for path in outcome_files(run_dir, outcome, part_prefix, None if transient else False)
    ]
    return pc.unique(pa.concat_arrays(chunks)) if chunks else pa.array([], pa.string())


def read_outcome(
    run_dir: str, outcome: str, columns: list[str] | None = None, transient: bool | None = None
) -> pa.Table | None:
    """All rows of one outcome written so far, or None when there are none.

    Rejected rows are read from rejects/ and retry/ both unless `transient` picks one.
    """
    fs, _ = filesystem(run_dir)
    files = outcome_files(run_dir, outcome, transient=transient)
    if not files:
        return None
    tables = [read_part(fs, f, columns) for f in files]
    return pa.concat_tables(tables, promote_options="permissive")


def count_outcomes(run_dir: str, retry: bool = True) -> dict[str, Any]:
    """Counts of what the run directory holds: kept total, dropped and rejected per reason.

    With `retry`, the rejects a rerun retries are counted apart, under "retry" (present only
    when there are some); without, they count as final rejects.
    """
    counts: dict[str, Any] = {"kept": 0, "dropped": {}, "rejected": {}}
    for outcome in C.OUTCOMES:
        files = outcome_files(run_dir, outcome, transient=False if retry else None)
        if not files:
            continue
        if outcome == C.OUTCOME_KEPT:
            counts["kept"] = sum(_by_reason(run_dir, files).values())
        else:
            counts[outcome] = _by_reason(run_dir, files)
    retried = outcome_files(run_dir, C.OUTCOME_REJECTED, transient=True) if retry else []
    if retried:
        counts["retry"] = _by_reason(run_dir, retried)
    return counts


def _by_reason(run_dir: str, files: list[str]) -> dict[str, int]:
    """Rows per reason in the part files, read one file's reason column at a time: what the
    driver holds does not grow with the rows (a 10M-row run's reasons stay on disk)."""
    fs, _ = filesystem(run_dir)
    counts: Counter[str] = Counter()
    for path in files:
        column = read_part(fs, path, [C.REASON])[C.REASON]
        for entry in pc.value_counts(column).to_pylist():
            counts[entry["values"]] += entry["counts"]
    return dict(sorted(counts.items()))


def package_versions() -> dict[str, str]:
    """Versions of Python, recycle and the packages whose behaviour shapes the results."""
    out = {"python": platform.python_version(), "recycle": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def build_manifest(
    command: str,
    n_input: int,
    counts: dict[str, Any],
    config: dict[str, Any],
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest, with the accounting invariant checked: input = kept + dropped + rejected
    (+ the rejects left for a rerun, + the samples a stopped run did not reach, when any)."""
    accounted = counts["kept"] + sum(counts["dropped"].values()) + sum(counts["rejected"].values())
    accounted += sum(counts.get("retry", {}).values()) + counts.get("pending", 0)
    return {
        "command": command,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "counts": {"input": n_input, **counts},
        "invariant": {"ok": accounted == n_input, "input": n_input, "accounted": accounted},
        "outputs": {o: OUTCOME_DIRS[o] + "/" for o in C.OUTCOMES},
        "config": config,
        "versions": package_versions(),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        **(extra or {}),
    }


def write_manifest(run_dir: str, manifest: dict[str, Any]) -> str:
    """Write manifest.json into the run directory, whole or not at all (a kill mid-write leaves
    the previous one: a rerun counts on its invocations); returns its URI."""
    fs, path = filesystem(run_dir)
    fs.create_dir(path, recursive=True)
    data = json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")
    write_bytes_atomic(fs, posixpath.join(path, MANIFEST), data)
    return posixpath.join(run_dir.rstrip("/"), MANIFEST)


def read_manifest(run_dir: str) -> dict[str, Any]:
    """The manifest of a run directory."""
    fs, path = filesystem(run_dir)
    with fs.open_input_stream(posixpath.join(path, MANIFEST)) as f:
        return json.loads(f.read().decode("utf-8"))


RESUME_KEYS = "resume_keys.json"


def check_resume_keys(run_dir: str, keys: dict[str, Any]) -> None:
    """Refuse to resume into a run directory made with different result-shaping settings.

    The first run writes `keys` (e.g. selection mode, student model, template); a later run with
    other values would mix two runs' rows, so it stops naming what differs.

    Raises:
        ConfigError: a key differs from the run directory's.
    """
    from recycle.errors import ConfigError

    fs, path = filesystem(run_dir)
    marker = posixpath.join(path, RESUME_KEYS)
    if fs.get_file_info(marker).type == pafs.FileType.File:
        with fs.open_input_stream(marker) as f:
            before = json.loads(f.read().decode("utf-8"))
        changed = {k: (before.get(k), v) for k, v in keys.items() if before.get(k) != v}
        if changed:
            detail = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise ConfigError(
                f"{run_dir!r} holds a run made with other settings ({detail}); resume with the same "
                "settings, or set output.overwrite=true, or pick another output.dir"
            )
        return
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(marker) as f:
        f.write(json.dumps(keys, indent=2).encode("utf-8"))
