"""A local Ray with room for a vLLM replica, its ingress, the teacher and student actors."""

from __future__ import annotations

import pytest

from tests.support.fixtures import *  # noqa: F403
from tests.support.rayllm import LOGICAL_CPUS


@pytest.fixture(scope="session")
def ray_llm(tmp_path_factory: pytest.TempPathFactory):
    """Ray for the Ray Serve LLM / Ray Data LLM tests, on 127.0.0.1, stopped at the end."""
    import ray

    from recycle.ray_utils import local_system_config

    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        address="local",  # a new one, never a cluster left running here (a `ray start` head)
        num_cpus=LOGICAL_CPUS,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
        _system_config=local_system_config(),
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()
