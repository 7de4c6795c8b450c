"""The plan of a job: what it will ask of the cluster, placed on the nodes before any work starts.

    fit the pools beside the served teacher (recycle.pipeline.resources)
    -> list what the job holds at once (`Ask`s: the served teacher's replicas and ingress, each
       student phase's pool, the teacher pools; or the training workers)
    -> place them node by node as Ray would (a gang at once, packed on one node when it can)
    -> refuse what cannot run on this cluster, or say what it waits for

A plan that cannot run is refused in one line naming the setting and the fix (ConfigError, exit
2): a GPU type no node has, a bundle bigger than any node, more than all the nodes hold, a served
teacher leaving the student pools no GPU. Resources that exist but are held now (another job, a
node the autoscaler is still adding) are not refused: the plan says what it waits for. The plan is
printed in a few lines and kept in the manifest's `plan` section (`Plan.record`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from recycle.config import RecycleConfig
from recycle.errors import ConfigError
from recycle.logs import PROGRESS_LOGGER
from recycle.pipeline.nodes import ACCELERATOR_PREFIX, Cluster, Node, parse_shape
from recycle.pipeline.resources import fit_to_cluster, scale_cpus
from recycle.select.plan import plan_selection
from recycle.teacher.serve import INGRESS_CPUS, replica_bundles

log = logging.getLogger(f"{PROGRESS_LOGGER}.plan")  # shown on a quiet console too
EPS = 1e-6
SHRINK_STEPS = 6  # CPU reservations halved at most this often (1/64) to fit the nodes

Bundle = dict[str, float]


@dataclass(frozen=True)
class Ask:
    """`count` gangs of `bundles` the job holds at once; a gang is placed whole or not at all.

    Attributes:
        what: what it is, for people ("student pool, phase 1").
        setting: the setting that sizes it, as the refusal names it ("train.num_workers=16").
        fix: how to make it fit, for the refusal.
        bundles: one gang: a placement group's bundles, or the one bundle of an actor.
        count: how many gangs (replicas, actors).
    """

    what: str
    setting: str
    fix: str
    bundles: tuple[Bundle, ...]
    count: int = 1

    def describe(self) -> str:
        """`8 x (0.25 GPU, 1 CPU)`, or a single gang's bundles."""
        gang = describe_gang(self.bundles)
        return gang if self.count == 1 else f"{self.count} x {gang}"

    def total(self) -> Bundle:
        """Every gang's bundles summed."""
        out: Bundle = {}
        for bundle in self.bundles:
            for key, value in bundle.items():
                out[key] = out.get(key, 0.0) + value * self.count
        return {k: v for k, v in out.items() if v > 0}


@dataclass
class Plan:
    """A command's placement on a cluster: the fitted config, what it asks, where it goes."""

    command: str
    config: RecycleConfig
    cluster: Cluster
    asks: list[Ask]
    placed: dict[str, dict[str, int]]  # ask.what -> node name -> gangs or bundles there
    awaited: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What the console shows: the cluster, one line per ask, what the plan waits for."""
        out = [f"plan of {self.command} on {self.cluster.describe()}"]
        for ask in self.asks:
            where = ", ".join(f"{n}: {k}" for n, k in self.placed.get(ask.what, {}).items())
            out.append(f"  {ask.what}: {ask.describe()} on {where or '-'}")
        used = sum(a.total().get("GPU", 0.0) for a in self.asks)
        out.append(f"  GPUs held: {used:g} of {self.cluster.totals().get('GPU', 0.0):g}")
        out += [f"  waiting for {a}" for a in self.awaited]
        return out

    def record(self) -> dict[str, Any]:
        """The manifest's `plan` section."""
        return {
            "command": self.command,
            "cluster": self.cluster.describe(),
            "asks": [
                {
                    "what": a.what,
                    "setting": a.setting,
                    "count": a.count,
                    "bundles": list(a.bundles),
                    "nodes": self.placed.get(a.what, {}),
                }
                for a in self.asks
            ],  # fmt: skip
            "gpus_held": sum(a.total().get("GPU", 0.0) for a in self.asks),
            "awaited": list(self.awaited),
        }

    def show(self) -> None:
        for line in self.lines():
            log.info("%s", line)


def describe_gang(bundles: tuple[Bundle, ...]) -> str:
    """`(1 GPU, 1 CPU) + 3 x (1 GPU)`: a gang's bundles, alike ones counted."""
    runs: list[tuple[str, int]] = []
    for bundle in bundles:
        text = describe_bundle(bundle)
        if runs and runs[-1][0] == text:
            runs[-1] = (text, runs[-1][1] + 1)
        else:
            runs.append((text, 1))
    return " + ".join(f"{n} x ({t})" if n > 1 else f"({t})" for t, n in runs)


def describe_bundle(bundle: Bundle) -> str:
    parts = [f"{bundle[k]:.3g} {k}" for k in ("GPU", "CPU") if bundle.get(k)]
    parts += [k.removeprefix(ACCELERATOR_PREFIX) for k in bundle if k.startswith(ACCELERATOR_PREFIX)]  # fmt: skip
    return ", ".join(parts) or "nothing"


def run_asks(cfg: RecycleConfig) -> list[Ask]:
    """What `recycle run` holds at once, `cfg` fitted: the served teacher, then the pools."""
    asks: list[Ask] = []
    serve = cfg.teacher.serve
    if serve is not None:
        asks.append(Ask(
            "served teacher replica",
            f"teacher.serve.tensor_parallel_size={serve.tensor_parallel_size} x "
            f"pipeline_parallel_size={serve.pipeline_parallel_size} x num_replicas={serve.num_replicas}",
            "lower them, add nodes, or serve the teacher elsewhere (teacher.base_url)",
            tuple(replica_bundles(serve)), serve.num_replicas,
        ))  # fmt: skip
        asks.append(Ask(
            "served teacher's OpenAI ingress", "teacher.serve",
            "give the cluster a free CPU beside the teacher's bundles (ray.num_cpus on a private Ray)",
            ({"CPU": INGRESS_CPUS},),
        ))  # fmt: skip
    spec, s, t = plan_selection(cfg.selection).spec, cfg.student, cfg.teacher
    student: Bundle = {"CPU": s.num_cpus_per_actor, "GPU": s.num_gpus_per_actor or 0.0}
    for i, _ in enumerate(spec.student_phases, start=1):
        asks.append(Ask(
            f"student pool, phase {i}",
            f"student.num_actors={s.num_actors}, num_gpus_per_actor={student['GPU']:.3g}, "
            f"num_cpus_per_actor={student['CPU']:.3g}",
            "lower student.num_actors or student.num_gpus_per_actor / num_cpus_per_actor",
            (student,), s.num_actors,
        ))  # fmt: skip
    for i in range(spec.teacher_calls):
        asks.append(Ask(
            f"teacher pool {i + 1}",
            f"teacher.num_actors={t.num_actors}, actor_num_cpus={t.actor_num_cpus:g}",
            "lower teacher.num_actors or teacher.actor_num_cpus",
            ({"CPU": t.actor_num_cpus},), t.num_actors,
        ))  # fmt: skip
    return asks


def train_asks(cfg: RecycleConfig) -> list[Ask]:
    """What `recycle train` holds: the Ray Train workers, one placement group (PACK)."""
    t = cfg.train
    worker: Bundle = {"CPU": t.cpus_per_worker, **({"GPU": 1.0} if t.use_gpu else {})}
    return [Ask(
        "training workers",
        f"train.num_workers={t.num_workers}, cpus_per_worker={t.cpus_per_worker:g}, use_gpu={str(t.use_gpu).lower()}",
        "lower train.num_workers (train.global_batch_size must stay a multiple of num_workers x "
        "micro_batch_size) or train.cpus_per_worker, or add nodes",
        (worker,) * t.num_workers,
    )]  # fmt: skip


def plan_run(cfg: RecycleConfig, cluster: Cluster) -> Plan:
    """The plan of `recycle run` on `cluster`: the config fitted, its asks placed.

    Raises:
        ConfigError: the plan cannot run on this cluster; the message names the setting.
    """
    check_accelerator(cfg, cluster)
    fitted = fit_to_nodes(fit_to_cluster(cfg, capacity(cluster)), cluster)
    return settle("recycle run", fitted, cluster, run_asks(fitted))


def fit_to_nodes(cfg: RecycleConfig, cluster: Cluster) -> RecycleConfig:
    """`cfg` with the actors' CPU reservations halved until every pool fits on the nodes: the
    student actors need their CPUs on the nodes where the free GPUs are, which the cluster's
    total (what fit_to_cluster sees) does not tell."""
    for _ in range(SHRINK_STEPS):
        if place(run_asks(cfg), cluster.nodes)[1] is None:
            return cfg
        smaller = scale_cpus(cfg, 0.5)
        if smaller == cfg:
            return cfg
        cfg = smaller
    return cfg


def plan_train(cfg: RecycleConfig, cluster: Cluster) -> Plan:
    """The plan of `recycle train` on `cluster` (the served teacher is gone by then).

    Raises:
        ConfigError: the workers cannot be placed on this cluster.
    """
    return settle("recycle train", cfg, cluster, train_asks(cfg))


def plans_on_shape(cfg: RecycleConfig, shape: str) -> list[str]:
    """The plans of `recycle run` and `recycle train` on a cluster of `shape` (`2x8:H100`).

    Raises:
        ConfigError: a plan cannot run there; the message names the command and the setting.
    """
    cluster, lines = parse_shape(shape), []
    for name, planner in (("recycle run", plan_run), ("recycle train", plan_train)):
        try:
            lines += planner(cfg, cluster).lines()
        except ConfigError as err:
            raise ConfigError(f"{name} on --cluster {shape}: {err}") from None
    return lines


def capacity(cluster: Cluster) -> dict[str, float]:
    """Live and autoscaled nodes summed: what the job may count on."""
    out: dict[str, float] = {}
    for node in cluster.nodes:
        for key, value in node.total.items():
            out[key] = out.get(key, 0.0) + value
    return out


def check_accelerator(cfg: RecycleConfig, cluster: Cluster) -> None:
    """A named GPU type must be on some node: Ray Serve LLM asks it of every bundle."""
    serve = cfg.teacher.serve
    kind = serve.accelerator_type if serve is not None else None
    if kind and kind not in cluster.accelerators():
        have = ", ".join(cluster.accelerators()) or "no named GPU type"
        raise ConfigError(
            f"teacher.serve.accelerator_type={kind}: no node of the cluster has {kind} GPUs ({have}); "
            "unset teacher.serve.accelerator_type (any GPU) or name a type the nodes have"
        )


def settle(command: str, cfg: RecycleConfig, cluster: Cluster, asks: list[Ask]) -> Plan:
    """Place `asks` on the nodes; refuse what cannot be placed, note what waits."""
    check_sizes(asks, cluster)
    placed, failed = place(asks, cluster.nodes)
    if failed is not None:
        raise ConfigError(refusal(failed, asks, cluster))
    plan = Plan(command, cfg, cluster, asks, placed)
    live, failed = place(asks, cluster.live)
    if failed is not None:
        plan.awaited.append(f"{failed.what}: nodes the autoscaler may add")
    else:
        plan.placed = live
        _, busy = place(asks, cluster.live, free=True)
        if busy is not None:
            plan.awaited.append(
                f"{busy.what} ({describe_gang(busy.bundles)} each): held now by another job or "
                "by nodes still starting; the job starts once they are free"
            )
    return plan


def check_sizes(asks: list[Ask], cluster: Cluster) -> None:
    """Each bundle must fit some node on its own (an actor never spans two nodes)."""
    for ask in asks:
        for bundle in ask.bundles:
            if not any(fits(n.total, bundle) for n in cluster.nodes):
                largest = max(cluster.nodes, key=lambda n: (n.gpus, n.total.get("CPU", 0.0)), default=None)  # fmt: skip
                raise ConfigError(
                    f"{ask.setting}: one bundle of the {ask.what} asks ({describe_bundle(bundle)}), "
                    f"more than any node has (the largest: "
                    f"{largest.describe() if largest else 'none'}): {ask.fix}"
                )


def refusal(failed: Ask, asks: list[Ask], cluster: Cluster) -> str:
    before = asks[: asks.index(failed)]
    beside = "; ".join(f"{a.what} {describe_bundle(a.total())}" for a in before)
    return (
        f"{failed.setting}: the {failed.what} ({failed.describe()}) "
        f"do not fit on the cluster ({cluster.describe()})"
        f"{' beside ' + beside if beside else ''}: {failed.fix}"
    )


def fits(room: dict[str, float], bundle: Bundle) -> bool:
    return all(room.get(k, 0.0) + EPS >= v for k, v in bundle.items() if v > 0)


def place(
    asks: list[Ask], nodes: tuple[Node, ...], free: bool = False
) -> tuple[dict[str, dict[str, int]], Ask | None]:
    """Where each ask's gangs go, node by node in order, and the first ask that does not fit.

    A gang goes on one node when one holds it all (Ray's PACK), else bundle by bundle; work
    without a GPU goes to nodes without GPUs first (Ray keeps GPU nodes for GPU work).
    """
    room = {n.name: dict(n.free if free else n.total) for n in nodes}
    gpu_last = sorted(nodes, key=lambda n: n.gpus > 0)
    placed: dict[str, dict[str, int]] = {}
    for ask in asks:
        order = [n.name for n in (nodes if ask.total().get("GPU") else gpu_last)]
        where = placed.setdefault(ask.what, {})
        for _ in range(ask.count):
            spots = _place_gang(ask.bundles, room, order)
            if spots is None:
                return placed, ask
            for name in spots:
                where[name] = where.get(name, 0) + 1
    return placed, None


def _place_gang(bundles: tuple[Bundle, ...], room: dict[str, Bundle], order: list[str]) -> list[str] | None:  # fmt: skip
    whole = Ask("", "", "", bundles).total()
    for name in order:
        if fits(room[name], whole):
            _take(room[name], whole)
            return [name] * (len(bundles) if len(bundles) > 1 else 1)
    taken: list[tuple[str, Bundle]] = []
    for bundle in bundles:
        name = next((n for n in order if fits(room[n], bundle)), None)
        if name is None:
            for back, given in taken:
                _take(room[back], {k: -v for k, v in given.items()})
            return None
        _take(room[name], bundle)
        taken.append((name, bundle))
    return [name for name, _ in taken]


def _take(room: Bundle, bundle: Bundle) -> None:
    for key, value in bundle.items():
        room[key] = room.get(key, 0.0) - value
