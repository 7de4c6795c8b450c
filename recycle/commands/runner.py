"""The one driver every command runs through, the way datatrove's executor runs a pipeline.

    pre-flight and check (before Ray) -> start Ray -> read -> clear, or resume, the run directory
    -> the command's graph, written as part files (or its own files) -> counts -> manifest
    -> invariant checked

A command is a `Command`: its name (the manifest's "command"), what it needs before it starts
(`preflight`, run wherever the command is started from: CLI, jobs, notebooks), and the steps that
differ from one command to the next (how it reads, what it writes, how it counts, which manifest
sections it adds). Every manifest goes through `close`, which checks the command's one accounting
rule, input = kept + dropped + rejected (+ retry, + pending) in the command's `unit` (rows,
questions, pairs, samples), and each section's own invariant, and raises InputError naming what
does not add up.
"""

from __future__ import annotations

import json
import logging
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recycle.config import RecycleConfig, redacted
from recycle.errors import InputError
from recycle.pipeline.nodes import Cluster, read_cluster
from recycle.pipeline.plan import Plan
from recycle.preflight import Check, Preflight
from recycle.ray_utils import check_shared_output, init_ray
from recycle.rundir import (
    build_manifest,
    check_resume_keys,
    clear_outcomes,
    count_outcomes,
    write_manifest,
    write_outcomes,
)
from recycle.storage import filesystem, write_bytes_atomic

log = logging.getLogger(__name__)


@dataclass
class Run:
    """What one execution of a command carries from step to step."""

    cfg: RecycleConfig
    n_input: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # manifest sections, after the counts
    outputs: dict[str, str] = field(default_factory=dict)  # added to the manifest's "outputs"
    pending: int | None = None  # samples a stopped run, or the source of a selection, never reached
    started: float = 0.0  # wall clock when the run directory was ready (time.time())
    state: Any = None  # what the command's steps hand each other: its own typed state
    retry: bool = True  # the counts keep the rejects to retry apart (Command.retry)
    out_dir: str = ""  # where the manifest goes: output.dir unless the command says
    part_files: bool = True  # False: the command writes its own files, the only "outputs" listed
    lost: str = "rows"  # what the manifest counts, for the error when it does not add up
    manifest_path: str | None = None  # None: out_dir/manifest.json; "": checked, not written
    manifest: dict[str, Any] = field(default_factory=dict)  # the manifest, once closed
    preflight: Preflight = field(default_factory=Preflight)  # the policy nested runs inherit

    def __post_init__(self) -> None:
        self.out_dir = self.out_dir or self.cfg.output.dir


def read_input(run: Run) -> Any:
    """The default reader: data.input read and normalized (rejects carried as rows)."""
    from recycle.data.read import read_samples

    ds, run.n_input = read_samples(run.cfg.data)
    return ds


def write_rows(run: Run, ds: Any) -> None:
    """The default writer: the rows as they are, into the run directory's part files."""
    write_outcomes(ds, run.out_dir)


def count_rows(run: Run) -> dict[str, Any]:
    """The default count: the outcome rows of the run directory's part files."""
    return count_outcomes(run.out_dir, retry=run.retry)


@dataclass(frozen=True)
class Command:
    """A command's declaration: its name and the steps the runner calls, in order.

    Attributes:
        name: the manifest's "command".
        preflight: what the command needs before anything starts (recycle.preflight's checks:
            input, output, student, endpoints), run by `execute` unless told not to.
        read: the input as a dataset (or frame); sets `run.n_input`.
        write: runs the command's graph over what `read` returned and writes the part files.
        check: start-up checks on the config, before Ray starts (a wrong model costs nothing).
        fit: the config adjusted once Ray is up (e.g. actor pools fitted to the cluster).
        plan: the command's placement on the nodes once Ray is up (recycle.pipeline.plan): its
            fitted config is the run's, it is printed and kept in the manifest's "plan", and a
            plan that cannot run raises ConfigError before any work.
        sections: manifest sections and outputs from the written rows and their counts.
        after: what is made from the manifest once written (the report); it is written again.
        resume_keys: a resumable command's result-shaping settings: the run directory is kept
            (unless output.overwrite) and a rerun with other settings is refused.
        read_before_ray: the reader needs no Ray (a refusal costs no Ray start-up).
        timings: manifest timing keys of the read and of the write; a read without its own key
            counts with the write; None on both: the command's steps time themselves.
        retry: whether the counts keep the rejects to retry apart (under "retry").
        state: makes the command's state, the typed object its steps hand each other
            (`run.state`; a dataclass per command, never string keys).
        checked: the manifest sections whose own "invariant" must hold too.
        counts: the command's accounting (kept, dropped and rejected per reason) once written;
            default: the run directory's part files.
        unit: what `n_input` and the counts count (rows, questions, pairs, samples).
        part_files: False: the command writes its own files (the run directory is not cleared,
            only `run.outputs` are listed).
        out_dir: where the command writes and its manifest goes; default output.dir.
        manifest_path: the manifest's file instead of out_dir/manifest.json ("": not written,
            still checked).
    """

    name: str
    read: Callable[[Run], Any] = read_input
    write: Callable[[Run, Any], None] = write_rows
    check: Callable[[RecycleConfig], None] | None = None
    fit: Callable[[RecycleConfig, dict[str, float]], RecycleConfig] | None = None
    plan: Callable[[RecycleConfig, Cluster], Plan] | None = None
    sections: Callable[[Run, dict[str, Any]], None] | None = None
    after: Callable[[Run, dict[str, Any]], None] | None = None
    resume_keys: Callable[[RecycleConfig], dict[str, Any]] | None = None
    read_before_ray: bool = False
    timings: tuple[str | None, str | None] = ("read", "write")
    retry: Callable[[RecycleConfig], bool] = lambda cfg: True
    state: Callable[[], Any] = lambda: None
    checked: tuple[str, ...] = ()
    preflight: tuple[Check, ...] = ()
    counts: Callable[[Run], dict[str, Any]] = count_rows
    unit: str = "rows"
    part_files: bool = True
    out_dir: str | None = None
    manifest_path: str | None = None


def execute(
    command: Command, cfg: RecycleConfig, preflight: bool | Preflight = True
) -> dict[str, Any]:
    """Run a command into its output; returns the manifest it wrote.

    Args:
        command: the command's declaration.
        cfg: the resolved config.
        preflight: run the command's pre-flight checks first (the CLI's --no-preflight: False),
            or the policy of the entry or parent run (its checks already run are not run again).

    Raises:
        PreflightError, ConfigError: before anything starts.
        InputError: the input cannot be read, or the manifest does not add up.
        whatever the command's steps raise (teacher errors, TrainingError...).
    """
    return execute_run(command, cfg, preflight).manifest


def execute_run(command: Command, cfg: RecycleConfig, preflight: bool | Preflight = True) -> Run:
    """`execute`, returning the whole Run: its manifest and what the steps left in its `state`."""
    policy = Preflight.of(preflight).run(cfg, command.preflight)
    if command.check is not None:
        command.check(cfg)
    run = new_run(command, cfg)
    run.preflight = policy
    if not command.read_before_ray:
        _start(command, run)
    if command.resume_keys is not None:
        if cfg.output.overwrite:
            clear_outcomes(run.out_dir)
        check_resume_keys(run.out_dir, command.resume_keys(run.cfg))
    run.started, t0 = time.time(), time.perf_counter()
    data = command.read(run)
    read_key, write_key = command.timings
    if read_key:
        run.timings[read_key] = time.perf_counter() - t0
    if command.read_before_ray:
        _start(command, run)
    if command.resume_keys is None and command.part_files:
        clear_outcomes(run.out_dir)
    t1 = time.perf_counter() if read_key else t0
    command.write(run, data)
    if write_key:
        run.timings[write_key] = time.perf_counter() - t1
    finish(command, run)
    return run


def new_run(command: Command, cfg: RecycleConfig) -> Run:
    """The Run of one execution of `command`, with the command's output and accounting unit."""
    run = Run(cfg, out_dir=command.out_dir or "", part_files=command.part_files, lost=command.unit,
              manifest_path=command.manifest_path)  # fmt: skip
    run.state, run.retry = command.state(), command.retry(cfg)
    return run


def cluster_resources() -> dict[str, float]:
    """What the Ray cluster holds (CPU, GPU, memory...), once Ray is up."""
    import ray

    return ray.cluster_resources()


def _start(command: Command, run: Run) -> None:
    init_ray(run.cfg.ray)
    if command.plan is not None:  # first: a refusal costs no task on the nodes
        plan = command.plan(run.cfg, read_cluster())
        plan.show()
        run.cfg, run.extra["plan"] = plan.config, plan.record()
    check_shared_output(run.out_dir)  # several nodes: a local output must be a shared mount
    if command.fit is not None:
        run.cfg = command.fit(run.cfg, cluster_resources())


def finish(command: Command, run: Run) -> dict[str, Any]:
    """Count what the run directory holds, add the command's sections, write and check the manifest."""
    run.retry = command.retry(run.cfg)
    counts = command.counts(run)
    if run.pending is not None:
        counts["pending"] = run.pending
    if command.sections is not None:
        command.sections(run, counts)
    return close(command.name, run, counts, command.after, command.checked)


def close(
    name: str,
    run: Run,
    counts: dict[str, Any],
    after: Callable[[Run, dict[str, Any]], None] | None = None,
    checked: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Build and write the manifest of `counts`; raise InputError when it does not add up."""
    manifest = build_manifest(name, run.n_input, counts, redacted(run.cfg), run.timings, run.extra)
    if not run.part_files:
        manifest["outputs"].clear()
    manifest["outputs"].update(run.outputs)
    uri = _write_manifest(run, manifest)
    log.info("manifest: %s", uri)
    if after is not None:
        after(run, manifest)
        _write_manifest(run, manifest)
    run.manifest = manifest
    check_invariants(manifest, uri, checked, run.lost)
    return manifest


def _write_manifest(run: Run, manifest: dict[str, Any]) -> str:
    """Where the manifest goes: out_dir/manifest.json, the command's own file, or nowhere ("")."""
    if run.manifest_path is None:
        return write_manifest(run.out_dir, manifest)
    if run.manifest_path:
        fs, path = filesystem(run.manifest_path)
        fs.create_dir(posixpath.dirname(path), recursive=True)
        write_bytes_atomic(fs, path, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    return run.manifest_path or "(the manifest, not written: no output was given)"


def check_invariants(
    manifest: dict[str, Any], uri: str, checked: tuple[str, ...] = (), lost: str = "rows"
) -> None:
    """Raise InputError when the manifest's invariant, or a checked section's, does not hold."""
    invariants = [manifest["invariant"], *(manifest[s]["invariant"] for s in checked)]
    if not all(inv["ok"] for inv in invariants):
        detail = "".join(f", {s} {manifest[s]['invariant']}" for s in checked)
        raise InputError(f"{lost} were lost: {manifest['invariant']}{detail}; see {uri}")


def stop(run: Run, name: str, retry: bool) -> int:
    """Write the manifest of a run stopped before its end; returns how many samples are finished.

    The samples it did not reach are counted as "pending", so the manifest still adds up.
    """
    counts = count_outcomes(run.out_dir, retry=retry)
    finished = counts["kept"] + sum(counts["dropped"].values()) + sum(counts["rejected"].values())
    counts["pending"] = run.n_input - finished - sum(counts.get("retry", {}).values())
    manifest = build_manifest(name, run.n_input, counts, redacted(run.cfg), run.timings, run.extra)
    write_manifest(run.out_dir, manifest)
    return finished
