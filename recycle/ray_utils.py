"""Connecting to Ray: a local Ray on a laptop or CI, the job's cluster under `ray job submit`."""

from __future__ import annotations

import logging
import os

import ray

from recycle.config.data import RayConfig
from recycle.logs import is_quiet, quiet_ray

log = logging.getLogger(__name__)


def init_ray(cfg: RayConfig) -> None:
    """Start or join Ray once per process; a no-op when Ray is already up (notebooks, tests)."""
    quiet_ray()  # a quiet command line: Ray's lines go to the run's log file, workers' stay in Ray's
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    kwargs = {"address": cfg.address, "log_to_driver": not is_quiet(), "include_dashboard": False}
    if cfg.address is None and "RAY_ADDRESS" not in os.environ:
        kwargs["num_cpus"] = cfg.num_cpus  # only a local Ray started here takes a CPU count
    ray.init(**{k: v for k, v in kwargs.items() if v is not None or k == "address"})
    log.info("ray: %s; its own logs: %s", ray.cluster_resources(), _session_logs())


def _session_logs() -> str:
    """Ray's log folder on this node (workers' output when the console is quiet)."""
    try:
        return ray._private.worker.global_worker.node.get_logs_dir_path()
    except AttributeError:  # joined a cluster through a client: the logs are on the head
        return "on the head node"
