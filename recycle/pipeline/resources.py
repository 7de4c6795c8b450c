"""Fit the pipeline's actor pools to the cluster, so every pool can start (no silent deadlock).

The selective graph holds four pools at once: two teacher pools (instruction and response
reflection) and two student pools (phase 1 and phase 2); other modes hold what their declaration
says (recycle.select.declarations). A teacher served on the cluster (`teacher.serve`) holds its
bundles for the whole pipeline, so the pools get what it leaves: on a cluster with fewer free
GPUs than student actors, the student actors share them (fractional `num_gpus`, one model copy
each, a fraction of one GPU never spanning two); on a small CPU machine, the CPU reservations are
scaled down together. A served teacher that leaves no GPU to the student pools is refused (the
pools would wait forever). What was changed is logged. The placement on the nodes themselves is
recycle.pipeline.plan's.
"""

from __future__ import annotations

import logging
import math
from collections import Counter

from recycle.config import RecycleConfig
from recycle.config.teacher import TeacherServeConfig
from recycle.errors import ConfigError
from recycle.select.plan import plan_selection
from recycle.teacher.serve import INGRESS_CPUS, replica_bundles

log = logging.getLogger(__name__)
LIGHT_RESERVE = 0.5  # CPUs left for the pandas steps and the writer
MIN_CPUS = 0.05
RESOLUTION = 10_000  # Ray keeps fractional resources to 1e-4


def pool_counts(cfg: RecycleConfig) -> tuple[int, int]:
    """(teacher actors, student actors) the configured mode runs at the same time.

    One teacher pool per reflection the mode makes, one student pool per phase that scores.
    """
    spec = plan_selection(cfg.selection).spec
    teacher = spec.teacher_calls * cfg.teacher.num_actors
    student = len(spec.student_phases) * cfg.student.num_actors
    return teacher, student


def served_needs(serve: TeacherServeConfig | None) -> dict[str, float]:
    """What a served teacher holds while the pipeline runs: every replica's bundles, and the
    OpenAI ingress replica's CPU; {} when the teacher is not served."""
    if serve is None:
        return {}
    total: Counter[str] = Counter({"CPU": INGRESS_CPUS})
    for bundle in replica_bundles(serve) * serve.num_replicas:
        total.update(bundle)
    return dict(total)


def gpu_share(free_gpus: float, actors: int) -> float:
    """The GPU share of each of `actors` actors on `free_gpus` whole GPUs: 1 when there are
    enough, else 1/m with m actors on each GPU (a fraction of one GPU never spans two, so 3 GPUs
    hold 16 actors at 1/6, not 3/16), cut to Ray's resolution so m of them fit one GPU."""
    whole = math.floor(free_gpus + 1e-9)
    if whole >= actors:
        return 1.0
    per_gpu = math.ceil(actors / whole)
    return math.floor(RESOLUTION / per_gpu) / RESOLUTION


def no_gpu_left(cfg: RecycleConfig, gpus: float, held: float, actors: int) -> str:
    """The refusal of a served teacher that leaves the student pools no GPU."""
    serve = cfg.teacher.serve
    assert serve is not None
    phases = actors // cfg.student.num_actors
    return (
        f"teacher.serve holds {held:g} of the cluster's {gpus:g} GPUs (tensor_parallel_size="
        f"{serve.tensor_parallel_size} x pipeline_parallel_size={serve.pipeline_parallel_size} x "
        f"num_replicas={serve.num_replicas}) and leaves none to the {actors} student actors "
        f"({phases} scoring phase(s) x student.num_actors={cfg.student.num_actors}), which would "
        "wait forever: lower teacher.serve.tensor_parallel_size, add a GPU node, serve the teacher "
        "elsewhere (teacher.base_url), or score on CPU (student.num_gpus_per_actor=0)"
    )


def fit_to_cluster(cfg: RecycleConfig, resources: dict[str, float]) -> RecycleConfig:
    """A copy of `cfg` whose per-actor CPU and GPU reservations fit `resources` all at once,
    beside the served teacher's bundles.

    Raises:
        ConfigError: the cluster has GPUs, the student's GPU share is left to this function, and
            the served teacher leaves no whole GPU for the student pools.
    """
    cfg = cfg.model_copy(deep=True)
    n_teacher, n_student = pool_counts(cfg)
    held = served_needs(cfg.teacher.serve)
    total_gpus = resources.get("GPU", 0.0)
    gpus = total_gpus - held.get("GPU", 0.0)
    cpus = resources.get("CPU", 0.0) - held.get("CPU", 0.0)
    if n_student and total_gpus and cfg.student.num_gpus_per_actor is None:
        if gpus < 1:
            raise ConfigError(no_gpu_left(cfg, total_gpus, held.get("GPU", 0.0), n_student))
        share = gpu_share(gpus, n_student)
        if share < 1.0:
            log.info("%d student actors share %g GPU(s): %g GPU each", n_student, gpus, share)
        cfg.student.num_gpus_per_actor = share
    _fit_cpus(cfg, n_teacher, n_student, cpus)
    return cfg


def scale_cpus(cfg: RecycleConfig, scale: float) -> RecycleConfig:
    """A copy of `cfg` with the teacher and student actors' CPU reservations scaled together
    (never below MIN_CPUS): what a node's CPUs beside its free GPUs can hold."""
    cfg = cfg.model_copy(deep=True)
    cfg.teacher.actor_num_cpus = max(MIN_CPUS, cfg.teacher.actor_num_cpus * scale)
    cfg.student.num_cpus_per_actor = max(MIN_CPUS, cfg.student.num_cpus_per_actor * scale)
    return cfg


def _fit_cpus(cfg: RecycleConfig, n_teacher: int, n_student: int, cpus: float) -> None:
    wanted = n_teacher * cfg.teacher.actor_num_cpus + n_student * cfg.student.num_cpus_per_actor
    budget = cpus - LIGHT_RESERVE
    if wanted > budget > 0:
        scale = budget / wanted
        cfg.teacher.actor_num_cpus = max(MIN_CPUS, cfg.teacher.actor_num_cpus * scale)
        cfg.student.num_cpus_per_actor = max(MIN_CPUS, cfg.student.num_cpus_per_actor * scale)
        log.info(
            "%g CPUs for %d teacher and %d student actors: reserving %.2f and %.2f CPU each",
            cpus, n_teacher, n_student, cfg.teacher.actor_num_cpus, cfg.student.num_cpus_per_actor,
        )  # fmt: skip
