"""Fit the pipeline's actor pools to the cluster, so every pool can start (no silent deadlock).

The selective graph holds four pools at once: two teacher pools (instruction and response
reflection) and two student pools (phase 1 and phase 2); other modes hold what their declaration
says (recycle.select.declarations). On a cluster with fewer GPUs than
student actors, the student actors share GPUs (fractional `num_gpus`, one model copy each); on a
small CPU machine, the CPU reservations are scaled down together. What was changed is logged.
"""

from __future__ import annotations

import logging

from recycle.config import RecycleConfig
from recycle.select.declarations import mode_spec

log = logging.getLogger(__name__)
LIGHT_RESERVE = 0.5  # CPUs left for the pandas steps and the writer
MIN_CPUS = 0.05


def pool_counts(cfg: RecycleConfig) -> tuple[int, int]:
    """(teacher actors, student actors) the configured mode runs at the same time.

    One teacher pool per reflection the mode makes, one student pool per phase that scores.
    """
    spec = mode_spec(cfg.selection.mode)
    teacher = spec.teacher_calls * cfg.teacher.num_actors
    student = len(spec.student_phases) * cfg.student.num_actors
    return teacher, student


def fit_to_cluster(cfg: RecycleConfig, resources: dict[str, float]) -> RecycleConfig:
    """A copy of `cfg` whose per-actor CPU and GPU reservations fit `resources` all at once."""
    cfg = cfg.model_copy(deep=True)
    n_teacher, n_student = pool_counts(cfg)
    gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
    if n_student and gpus and cfg.student.num_gpus_per_actor is None:
        share = min(1.0, gpus / n_student)
        if share < 1.0:
            log.info("%d student actors share %g GPU(s): %.2f GPU each", n_student, gpus, share)
        cfg.student.num_gpus_per_actor = share
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
    return cfg
