"""Connecting to Ray: a local Ray on a laptop or CI, the job's cluster under `ray job submit`."""

from __future__ import annotations

import logging
import os

import ray

from recycle.config.data import RayConfig

log = logging.getLogger(__name__)


def init_ray(cfg: RayConfig) -> None:
    """Start or join Ray once per process; a no-op when Ray is already up (notebooks, tests)."""
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    kwargs = {"address": cfg.address, "log_to_driver": True, "include_dashboard": False}
    if cfg.address is None and "RAY_ADDRESS" not in os.environ:
        kwargs["num_cpus"] = cfg.num_cpus  # only a local Ray started here takes a CPU count
    ray.init(**{k: v for k, v in kwargs.items() if v is not None or k == "address"})
    log.info("ray: %s", ray.cluster_resources())
