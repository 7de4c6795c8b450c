"""Connecting to Ray: a local Ray on a laptop or CI, the job's cluster under `ray job submit`."""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from recycle.config.data import RayConfig
from recycle.errors import ConfigError
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

    The driver reads a whole run's columns in bursts (counts, export, report), and a notebook
    kernel runs many pipelines. Arrow's default pool (mimalloc) keeps what it freed: reading a
    4,000-row run's report columns four times took the driver from 224 to 375 MB (241 MB with
    the system allocator). jemalloc keeps less, but still some of every run: four 600-row stream
    runs in one driver left it 46 MB larger with jemalloc, 13 MB with the system allocator, while
    Arrow itself held 0 bytes after each run: the allocators keep the rest.
    ARROW_DEFAULT_MEMORY_POOL, when set, is the user's choice and stays.
    """
    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return pa.default_memory_pool().backend_name
    pa.set_memory_pool(pa.system_memory_pool())
    return "system"


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


def check_shared_output(uri: str, key: str = "output.dir", look: Any = None) -> None:
    """On a cluster of several nodes, a local `uri` must be a folder every node sees.

    A marker is written from the driver and looked for from a task on each other node (as Ray
    Train validates its storage path); one node, or an s3:// / gs:// URI: nothing to check.
    `look(path) -> bool` runs on each other node (default: the file exists there).

    Raises:
        ConfigError: naming `key`, the nodes that do not see it, and the fix.
    """
    if "://" in uri or not ray.is_initialized():
        return
    others = _other_nodes()
    if not others:
        return
    folder = os.path.abspath(os.path.expanduser(uri))
    os.makedirs(folder, exist_ok=True)
    marker = os.path.join(folder, f".recycle-shared-{uuid.uuid4().hex[:8]}")
    open(marker, "w").close()  # noqa: SIM115 - an empty marker
    try:
        seen = ray.get([_look_from(node, look or os.path.exists, marker) for node in others])
    finally:
        os.remove(marker)
    blind = [node[:8] for node, ok in zip(others, seen, strict=True) if not ok]
    if blind:
        raise ConfigError(
            f"{key} {uri!r} is a local folder that {len(blind)} of the cluster's other nodes do "
            f"not see (node {', '.join(blind)}): the run would be split over their disks; set "
            f"{key} to an s3:// or gs:// URI, or to a folder on a mount every node shares"
        )


def _other_nodes() -> list[str]:
    """Ids of the alive nodes other than this process's (the driver's)."""
    here = ray.get_runtime_context().get_node_id()
    return [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n["NodeID"] != here]


def _look_from(node: str, look: Any, path: str) -> ray.ObjectRef:
    strategy = NodeAffinitySchedulingStrategy(node, soft=False)
    return ray.remote(num_cpus=0, scheduling_strategy=strategy)(look).remote(path)
