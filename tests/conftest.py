"""Shared fixtures: one local Ray for the whole session, paths to the shared real data; the
guard that fails a test starting Ray, a server or a browser without the `integration` mark."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

# One torch (OpenMP) thread per process, set before anything imports torch; children, Ray's
# workers among them, inherit it. The tests run two pytest workers beside Ray's actors on a
# 2-core machine: torch's default of one thread per core oversubscribes it, and its OpenMP
# threads spin while they wait. tests/unit/student and tests/unit/train on two workers: 204
# CPU-seconds with the default, 108 with one thread. A value set outside (OMP_NUM_THREADS=4
# python -m pytest ...) is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

from tests.support.guard import (  # noqa: F401  (hooks: the `integration` rule, held at run time)
    _children_start_no_ray,
    pytest_configure,
    pytest_runtest_protocol,
    pytest_runtest_setup,
    pytest_unconfigure,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
ALPACA = SHARED_DATA / "alpaca_cherry_5_percent.json"

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


# The slowest modules (one to three minutes each: clusters, kills and reruns, many runs) are
# collected first, so that CI's two pytest-xdist workers (`--dist loadfile`, each module on one
# worker) end together instead of one of them starting a long module last. Order only.
SLOW_FIRST = (
    "integration/cluster/test_chaos.py",
    "integration/cluster/test_object_store_run.py",
    "integration/cluster/test_node_loss.py",
    "integration/pipeline/test_resume.py",
    "integration/eval/test_end_to_end_eval.py",
    "integration/pipeline/test_modes.py",
    "integration/test_job_submit.py",
    "integration/cluster/test_rehearsal.py",
    "integration/pipeline/test_vllm_teacher.py",
    "integration/test_job_exit_codes.py",
    "integration/pipeline/test_interrupt.py",
    "integration/cluster/test_killed_driver.py",
    "integration/test_notebooks.py",
    "integration/pipeline/test_outage.py",
    "integration/test_train.py",
    "integration/test_reflect_batch.py",
    "integration/eval/test_alpaca_eval_2_offline.py",
    "integration/test_demo.py",
    "integration/pipeline/test_conversations.py",
    "integration/eval/test_baseline_original.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return next(
            (i for i, name in enumerate(SLOW_FIRST) if path.endswith(name)), len(SLOW_FIRST)
        )

    items.sort(key=rank)  # stable: the rest keep their order


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray with 2 CPUs shared by every test that needs one."""
    import ray

    from recycle.ray_utils import local_system_config

    if not ray.is_initialized():  # started as `recycle` starts a local Ray
        ray.init(
            address="local",  # a new one, never a cluster left running here (a `ray start` head)
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            _system_config=local_system_config(),
        )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module", autouse=True)
def release_ray_actors():
    """After each module that ran Ray in this process, collect garbage: a Ray Data run aborted by
    an expected exception keeps its actor pools (and their CPUs) alive until its executor is
    collected. Only then: a full collection with torch and transformers loaded takes 0.2-0.4 s,
    and after every module of the unit tests (no Ray) that was ~50 of their ~140 CPU-seconds."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        gc.collect()


@pytest.fixture(scope="session")
def alpaca_path() -> Path:
    if not ALPACA.is_file():
        pytest.skip(f"shared data not found at {ALPACA}")
    return ALPACA
