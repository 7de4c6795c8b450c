"""Connecting to Ray: a local Ray on a laptop or CI, the job's cluster under `ray job submit`."""

from __future__ import annotations

import logging
import os

import ray

from recycle.config.data import RayConfig
from recycle.logs import is_quiet, quiet_ray

log = logging.getLogger(__name__)
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
    """Start or join Ray once per process; a no-op when Ray is already up (notebooks, tests).

    Either way the process is a driver from now on, and its Arrow memory pool one that returns
    what it frees (`use_returning_memory_pool`)."""
    use_returning_memory_pool()
    quiet_ray()  # a quiet command line: Ray's lines go to the run's log file, workers' stay in Ray's
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    kwargs = {"address": cfg.address, "log_to_driver": not is_quiet(), "include_dashboard": False}
    if cfg.address is None and "RAY_ADDRESS" not in os.environ:
        kwargs["num_cpus"] = cfg.num_cpus  # only a local Ray started here takes a CPU count
        kwargs["_system_config"] = local_system_config()
    ray.init(**{k: v for k, v in kwargs.items() if v is not None or k == "address"})
    log.info("ray: %s; its own logs: %s", ray.cluster_resources(), _session_logs())


def local_system_config() -> dict[str, int]:
    """LOCAL_SYSTEM_CONFIG, less what the environment sets itself (RAY_<name>)."""
    return {k: v for k, v in LOCAL_SYSTEM_CONFIG.items() if f"RAY_{k}" not in os.environ}


def _session_logs() -> str:
    """Ray's log folder on this node (workers' output when the console is quiet)."""
    try:
        return ray._private.worker.global_worker.node.get_logs_dir_path()
    except AttributeError:  # joined a cluster through a client: the logs are on the head
        return "on the head node"
