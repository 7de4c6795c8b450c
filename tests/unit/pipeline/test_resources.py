"""Fitting the actor pools to the cluster: every pool can start at once, nothing else changes."""

from __future__ import annotations

import pytest

from recycle.config import load_config
from recycle.pipeline.resources import LIGHT_RESERVE, MIN_CPUS, fit_to_cluster, pool_counts


def cfg(*overrides):
    return load_config(None, ["teacher.num_actors=2", "teacher.actor_num_cpus=0.5",
                              "student.num_actors=1", "student.num_cpus_per_actor=1.0", *overrides])  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "teacher", "student"),
    [("selective", 4, 2), ("recycle", 4, 0), ("recycle_instruction", 2, 0),
     ("recycle_response", 2, 0), ("ifd_topk", 0, 1), ("coherence", 4, 2)],
)  # fmt: skip
def test_one_pool_per_reflection_and_per_scoring_phase(mode, teacher, student):
    assert pool_counts(cfg(f"selection.mode={mode}")) == (teacher, student)
    assert pool_counts(cfg(f"selection.mode={mode}", "teacher.num_actors=3", "student.num_actors=2")) == (
        teacher // 2 * 3, student * 2)  # fmt: skip


def test_student_actors_share_the_gpus_when_there_are_fewer_gpus_than_actors():
    fitted = fit_to_cluster(cfg("student.num_actors=2"), {"CPU": 64.0, "GPU": 1.0})
    assert fitted.student.num_gpus_per_actor == 0.25  # 4 student actors (2 phases x 2) on 1 GPU
    fitted = fit_to_cluster(cfg(), {"CPU": 64.0, "GPU": 8.0})
    assert fitted.student.num_gpus_per_actor == 1.0  # enough GPUs: one each


def test_a_configured_gpu_share_and_a_cluster_without_gpus_are_left_alone():
    assert fit_to_cluster(cfg("student.num_gpus_per_actor=0.5"), {"CPU": 64.0, "GPU": 1.0}).student.num_gpus_per_actor == 0.5  # fmt: skip
    assert fit_to_cluster(cfg(), {"CPU": 64.0}).student.num_gpus_per_actor is None
    no_student = fit_to_cluster(cfg("selection.mode=recycle"), {"CPU": 64.0, "GPU": 1.0})
    assert no_student.student.num_gpus_per_actor is None


def test_cpu_reservations_shrink_together_to_fit_a_small_machine():
    wanted = 4 * 0.5 + 2 * 1.0  # selective: 4 teacher actors, 2 student actors
    fitted = fit_to_cluster(cfg(), {"CPU": 2.0})
    scale = (2.0 - LIGHT_RESERVE) / wanted
    assert fitted.teacher.actor_num_cpus == pytest.approx(0.5 * scale)
    assert fitted.student.num_cpus_per_actor == pytest.approx(1.0 * scale)
    used = 4 * fitted.teacher.actor_num_cpus + 2 * fitted.student.num_cpus_per_actor
    assert used == pytest.approx(2.0 - LIGHT_RESERVE)


def test_reservations_never_fall_below_the_floor_and_a_large_cluster_changes_nothing():
    tiny = fit_to_cluster(cfg("teacher.num_actors=50"), {"CPU": 1.0})
    assert tiny.teacher.actor_num_cpus == MIN_CPUS
    big = fit_to_cluster(cfg(), {"CPU": 64.0})
    assert (big.teacher.actor_num_cpus, big.student.num_cpus_per_actor) == (0.5, 1.0)


def test_the_given_config_is_not_modified():
    original = cfg("student.num_actors=2")
    fit_to_cluster(original, {"CPU": 2.0, "GPU": 1.0})
    assert original.student.num_gpus_per_actor is None and original.teacher.actor_num_cpus == 0.5
