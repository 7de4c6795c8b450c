"""Shared fixtures: one local Ray for the whole session, paths to the shared real data; the
guard that fails a test starting Ray, a server or a browser without the `integration` mark."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray with 2 CPUs shared by every test that needs one."""
    import ray

    from recycle.ray_utils import local_system_config

    if not ray.is_initialized():  # started as `recycle` starts a local Ray
        ray.init(
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
    """After each module, collect garbage: a Ray Data run aborted by an expected exception keeps
    its actor pools (and their CPUs) alive until its executor is collected."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def alpaca_path() -> Path:
    if not ALPACA.is_file():
        pytest.skip(f"shared data not found at {ALPACA}")
    return ALPACA
