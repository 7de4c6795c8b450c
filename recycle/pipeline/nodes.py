"""The nodes a job can be placed on: read from the Ray cluster it joined, or from a shape.

`read_cluster` sees each live node's total and free resources (`ray.nodes()` and Ray's free
resources per node) and, on an autoscaling cluster, the node types the autoscaler may add (the
cluster config Ray Data reads too). `parse_shape` builds the same picture from a description
(`2x8:H100`, `1x0/16+2x8:H100/96`), so `recycle config show --cluster` can plan for a cluster
that is not there. Pure data; only `read_cluster` touches Ray.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from recycle.errors import ConfigError

ACCELERATOR_PREFIX = "accelerator_type:"
CPUS_PER_GPU = 12  # a shape's CPUs per GPU when it names none (8 x H100 nodes have 96 to 200)
CPUS_OF_A_CPU_NODE = 8
MAX_AUTOSCALED = 64  # nodes of one autoscaled type counted when its maximum is unbounded
SHAPE = re.compile(r"^(?:(\d+)x)?(\d+)(?::([A-Za-z0-9_.-]+))?(?:/(\d+(?:\.\d+)?))?$")
KEPT = ("CPU", "GPU")  # with every accelerator_type:* resource: what a bundle can ask for


@dataclass(frozen=True)
class Node:
    """One node: what it has in all, what is free now, and whether it is up yet."""

    name: str
    total: dict[str, float]
    free: dict[str, float] = field(default_factory=dict)
    autoscaled: bool = False  # a node the autoscaler may add, not up yet

    @property
    def gpus(self) -> float:
        return self.total.get("GPU", 0.0)

    def accelerators(self) -> list[str]:
        """The GPU types the node carries (Ray's `accelerator_type:<T>` resources)."""
        return sorted(k.removeprefix(ACCELERATOR_PREFIX) for k in self.total if k.startswith(ACCELERATOR_PREFIX))  # fmt: skip

    def describe(self) -> str:
        kinds = "/".join(self.accelerators())
        gpu = f"{self.gpus:g} GPU{' ' + kinds if kinds else ''}, " if self.gpus else ""
        return f"{gpu}{self.total.get('CPU', 0.0):g} CPU"


@dataclass(frozen=True)
class Cluster:
    """The live nodes, then the nodes the autoscaler may add; `shape` names where it came from."""

    nodes: tuple[Node, ...]
    shape: str = ""

    @property
    def live(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.autoscaled)

    def totals(self) -> dict[str, float]:
        """The live nodes' resources summed (what `ray.cluster_resources()` says)."""
        out: dict[str, float] = {}
        for node in self.live:
            for key, value in node.total.items():
                out[key] = out.get(key, 0.0) + value
        return out

    def accelerators(self) -> list[str]:
        return sorted({a for n in self.nodes for a in n.accelerators()})

    def describe(self) -> str:
        """`2 node(s): 2 x (8 GPU H100, 96 CPU)` (+ what the autoscaler may add)."""
        parts = []
        for autoscaled in (False, True):
            kinds: dict[str, int] = {}
            for node in self.nodes:
                if node.autoscaled == autoscaled:
                    kinds[node.describe()] = kinds.get(node.describe(), 0) + 1
            text = ", ".join(f"{n} x ({k})" for k, n in kinds.items())
            if text:
                parts.append(text if not autoscaled else f"the autoscaler may add {text}")
        return f"{len(self.live)} node(s): " + ("; ".join(parts) or "none")


def kept(resources: dict[str, float]) -> dict[str, float]:
    """CPU, GPU and the accelerator types of a node's resources (not memory, node ids...)."""
    return {k: float(v) for k, v in resources.items() if k in KEPT or k.startswith(ACCELERATOR_PREFIX)}  # fmt: skip


def parse_shape(text: str) -> Cluster:
    """A cluster from `NxG[:TYPE][/CPUS]` terms joined by `+`: N nodes (default 1) of G GPUs of
    type TYPE with CPUS CPUs each (default 12 per GPU, 8 for a node without GPU).

    Raises:
        ConfigError: a term does not read that way.
    """
    nodes: list[Node] = []
    for term in text.replace(" ", "").split("+"):
        match = SHAPE.match(term)
        if match is None:
            raise ConfigError(
                f"--cluster {text!r}: {term!r} is not NODESxGPUS[:TYPE][/CPUS] "
                "(e.g. 2x8:H100, 1x0/16+2x8:H100/96)"
            )
        count, gpus, kind, cpus = match.groups()
        total = {"GPU": float(gpus), "CPU": float(cpus or (int(gpus) * CPUS_PER_GPU or CPUS_OF_A_CPU_NODE))}  # fmt: skip
        if kind and float(gpus):
            total[ACCELERATOR_PREFIX + kind] = 1.0
        if not float(gpus):
            total.pop("GPU")
        for _ in range(int(count or 1)):
            nodes.append(Node(f"node{len(nodes) + 1}", total, dict(total)))
    return Cluster(tuple(nodes), shape=text)


def read_cluster() -> Cluster:
    """The Ray cluster this process joined: its live nodes, and what its autoscaler may add."""
    import ray

    free = _free_per_node()
    nodes = []
    for info in ray.nodes():
        if not info.get("Alive"):
            continue
        node_id = info["NodeID"]
        total = kept(info.get("Resources", {}))
        nodes.append(Node(node_id[:8], total, kept(free.get(node_id, total))))
    return Cluster(tuple(nodes) + _autoscaled_nodes())


def _free_per_node() -> dict[str, dict[str, float]]:
    from ray._private import state

    try:
        return state.available_resources_per_node()
    except (AttributeError, RuntimeError):  # a Ray client connection: free = total
        return {}


def _autoscaled_nodes() -> tuple[Node, ...]:
    """The node types of the autoscaler's config (Ray Data reads the same), at their maximum."""
    from ray._private import state

    try:
        config = state.state.get_cluster_config()
    except (AttributeError, RuntimeError):
        return ()
    out: list[Node] = []
    for group in getattr(config, "node_group_configs", None) or ():
        total = kept(dict(group.resources))
        count = MAX_AUTOSCALED if group.max_count < 0 else group.max_count
        for i in range(count):
            out.append(Node(f"{group.name or 'autoscaled'}-{i + 1}", total, {}, autoscaled=True))
    return tuple(out)
