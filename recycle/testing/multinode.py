"""A Ray cluster of several nodes on this machine, for tests and benchmarks of node loss.

The head has 0 CPUs, as real heads are configured; worker nodes have their own raylets and
object stores; every node listens on 127.0.0.1. Its temp folder is private (RAY_TMPDIR while it
runs), so no other `ray.init()` on the machine finds it. Drivers join it the way `ray job submit`
makes them join, through RAY_ADDRESS (`driver_env`).

    with LocalCluster(workers=2) as cluster:  # gpus_per_worker=8: a fake GPU cluster
        subprocess.Popen([...], env=cluster.driver_env())
        cluster.remove_node(cluster.node_running("ReflectStage"))
        cluster.add_worker()
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import psutil

NODE_IP = "127.0.0.1"
OBJECT_STORE_BYTES = 200 * 1024 * 1024


class LocalCluster:
    """`ray.cluster_utils.Cluster` with a 0-CPU head and `workers` worker nodes on 127.0.0.1."""

    def __init__(
        self,
        workers: int = 2,
        cpus_per_worker: float = 1,
        gpus_per_worker: float = 0,
        worker_resources: dict[str, float] | None = None,
    ):
        """`gpus_per_worker` and `worker_resources` (e.g. {"accelerator_type:H100": 1}) are
        declared, not detected: Ray schedules by them while torch sees no CUDA (a fake GPU
        cluster on CPU, for rehearsing placements)."""
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.gpus_per_worker = gpus_per_worker
        self.worker_resources = dict(worker_resources or {})
        self.root = ""
        self._saved_tmpdir: str | None = None
        self.cluster: Any = None

    def __enter__(self) -> LocalCluster:
        from ray.cluster_utils import Cluster

        self.root = tempfile.mkdtemp(prefix="rcl", dir="/tmp")  # short: Ray's socket paths
        self._saved_tmpdir = os.environ.get("RAY_TMPDIR")
        os.environ["RAY_TMPDIR"] = self.root
        self.cluster = Cluster(initialize_head=True, head_node_args=self._node_args(cpus=0))
        for _ in range(self.workers):
            self.add_worker()
        self.cluster.wait_for_nodes()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.cluster is not None:
                self.cluster.shutdown()
        finally:
            if self._saved_tmpdir is None:
                os.environ.pop("RAY_TMPDIR", None)
            else:
                os.environ["RAY_TMPDIR"] = self._saved_tmpdir
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def address(self) -> str:
        """The head's GCS address (what RAY_ADDRESS holds under `ray job submit`)."""
        return self.cluster.address

    def driver_env(self, **extra: str) -> dict[str, str]:
        """The environment of a driver process joining this cluster."""
        return {**os.environ, "RAY_ADDRESS": self.address, "RAY_TMPDIR": self.root, **extra}

    def add_worker(self) -> Any:
        """Start one more worker node (as an autoscaler replacing a lost node does)."""
        args = self._node_args(cpus=self.cpus_per_worker)
        return self.cluster.add_node(
            **args, num_gpus=self.gpus_per_worker, resources=dict(self.worker_resources)
        )

    def remove_node(self, node: Any) -> None:
        """Kill a worker node's raylet, object store and workers at once (no graceful exit)."""
        self.cluster.remove_node(node, allow_graceful=False)

    def worker_nodes(self) -> list[Any]:
        """The worker nodes still running."""
        return list(self.cluster.worker_nodes)

    def node_running(self, actor_text: str) -> Any | None:
        """A worker node with a process whose title contains `actor_text` (an actor's class)."""
        for node in self.worker_nodes():
            if self.count_running(node, actor_text):
                return node
        return None

    def count_running(self, node: Any, actor_text: str) -> int:
        """How many of a node's worker processes have `actor_text` in their title."""
        return sum(actor_text in " ".join(p) for p in _worker_titles(node))

    def _node_args(self, cpus: float) -> dict[str, Any]:
        return {
            "num_cpus": cpus,
            "node_ip_address": NODE_IP,
            "object_store_memory": OBJECT_STORE_BYTES,
            "include_dashboard": False,
        }


def _worker_titles(node: Any) -> list[list[str]]:
    """Command lines of the worker processes a node's raylet started (Ray sets `ray::Actor...`)."""
    raylet = node.all_processes.get("raylet")
    if not raylet:
        return []
    try:
        children = psutil.Process(raylet[0].process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    titles = []
    for child in children:
        try:
            titles.append(child.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return titles
