"""Connecting to Ray: a local Ray on a laptop or CI, the job's cluster under `ray job submit`."""

from __future__ import annotations

import logging
import os
from typing import Any

import ray

from recycle.config.data import RayConfig
from recycle.logs import PROGRESS_LOGGER, quiet_ray

log = logging.getLogger(__name__)
console = logging.getLogger(f"{PROGRESS_LOGGER}.ray")  # shown on a quiet console too
LOCAL = "local"  # ray.address that always starts a private local Ray
# A local Ray keeps an idle task worker for 20 s instead of 1 s: the pipeline's short pandas and
# write tasks then reuse workers instead of starting a Python process (~1 CPU-second) each time.
# jobs/bench_stats.py, 300 rows, statistics off: 12 -> 6 task workers, 80 -> 65 CPU-seconds.
LOCAL_SYSTEM_CONFIG = {"idle_worker_killing_time_threshold_ms": 20_000}


def use_returning_memory_pool() -> str:
    """Make this process's Arrow allocations go back to the OS once freed; returns the pool's name.

    The driver reads a whole run's columns in bursts (counts, export, report). Arrow's default
    pool (mimalloc) keeps what it freed, so the driver's memory grew with the largest run it had
    read: reading a 4,000-row run's report columns four times took it from 224 to 375 MB, against
    244 MB with jemalloc (which hands freed pages back) and 241 MB with the system allocator.
    ARROW_DEFAULT_MEMORY_POOL, when set, is the user's choice and stays.
    """
    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return pa.default_memory_pool().backend_name
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
    return pool.backend_name


def init_ray(cfg: RayConfig) -> None:
    """Start or join Ray once per process; when Ray is already up (notebooks, tests), use it.

    Joining a cluster (`cluster_address`) passes Ray nothing a joined cluster refuses (CPU
    counts, system config); only a private local Ray started here gets `ray.num_cpus`. The
    console says which cluster the run uses. Either way the process is a driver from now on, and
    its Arrow memory pool one that returns what it frees (`use_returning_memory_pool`)."""
    use_returning_memory_pool()
    quiet_ray(cfg.quiet)  # quiet: Ray's lines go to the run's log file, workers' stay in Ray's
    if ray.is_initialized():
        _ignored_cpus(cfg, "Ray is already up in this process")
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    joining = cluster_address(cfg.address)
    kwargs: dict[str, Any] = {"log_to_driver": not cfg.quiet, "include_dashboard": False}
    if joining is None:
        kwargs.update(address="local", _system_config=local_system_config())
        if cfg.num_cpus is not None:
            kwargs["num_cpus"] = cfg.num_cpus
    else:
        _ignored_cpus(cfg, f"joining the cluster at {joining}")
        kwargs["address"] = joining
    ray.init(**kwargs)
    console.info("ray: %s", describe_cluster(joining))
    log.info("ray: %s; its own logs: %s", ray.cluster_resources(), _session_logs())


def cluster_address(address: str | None) -> str | None:
    """The running cluster `ray.init(address)` would join, or None for a private local Ray.

    Ray's own rule: `address`, else RAY_ADDRESS, else the cluster a `ray start` on this machine
    recorded; `local` is always a private Ray."""
    if address == LOCAL:
        return None
    if address in (None, "auto") and os.environ.get("RAY_ADDRESS"):
        address = os.environ["RAY_ADDRESS"]
    if address is not None and "://" in address:
        return address  # a Ray client address, ray://head:10001
    from ray._private.services import canonicalize_bootstrap_address

    return canonicalize_bootstrap_address(address)


def describe_cluster(joined: str | None) -> str:
    """One line for the console: which Ray the run uses and what it holds."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    res = ray.cluster_resources()
    held = f"{len(nodes)} node(s), {res.get('CPU', 0):g} CPU, {res.get('GPU', 0):g} GPU"
    if joined is None:
        return f"started a private local Ray ({held})"
    return f"joined the cluster at {joined} ({held})"


def _ignored_cpus(cfg: RayConfig, why: str) -> None:
    if cfg.num_cpus is not None:
        log.warning("ray.num_cpus=%d is ignored: %s (its CPUs are used)", cfg.num_cpus, why)


def local_system_config() -> dict[str, int]:
    """LOCAL_SYSTEM_CONFIG, less what the environment sets itself (RAY_<name>)."""
    return {k: v for k, v in LOCAL_SYSTEM_CONFIG.items() if f"RAY_{k}" not in os.environ}


def _session_logs() -> str:
    """Ray's log folder on this node (workers' output when the console is quiet)."""
    try:
        return ray._private.worker.global_worker.node.get_logs_dir_path()
    except AttributeError:  # joined a cluster through a client: the logs are on the head
        return "on the head node"
