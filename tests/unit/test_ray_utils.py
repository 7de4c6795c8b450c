"""The local Ray's system config: the idle-worker setting, unless the environment sets it."""

from __future__ import annotations

import logging

import pytest

from recycle import ray_utils
from recycle.config.data import RayConfig


def test_local_ray_keeps_idle_workers_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("RAY_idle_worker_killing_time_threshold_ms", raising=False)
    assert ray_utils.local_system_config() == {"idle_worker_killing_time_threshold_ms": 20_000}
    monkeypatch.setenv("RAY_idle_worker_killing_time_threshold_ms", "1000")
    assert ray_utils.local_system_config() == {}


@pytest.fixture
def fake_ray(monkeypatch):
    """ray.init recorded instead of run; no cluster recorded by a `ray start` (empty RAY_TMPDIR)."""
    calls = []
    monkeypatch.setattr(ray_utils.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray_utils.ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setattr(ray_utils.ray, "cluster_resources", lambda: {"CPU": 2.0})
    monkeypatch.setattr(ray_utils.ray, "nodes", lambda: [{"Alive": True}, {"Alive": False}])
    monkeypatch.setattr(ray_utils, "quiet_ray", lambda quiet: None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_idle_worker_killing_time_threshold_ms", raising=False)
    return calls


def test_init_ray_passes_local_only_arguments_only_to_a_ray_it_starts(
    fake_ray, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    caplog.set_level(logging.INFO)
    ray_utils.init_ray(RayConfig(num_cpus=2))
    ray_utils.init_ray(RayConfig(address="ray://head:10001", num_cpus=2))
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6380")
    ray_utils.init_ray(RayConfig())
    local, client, env = fake_ray
    assert local == {"address": "local", "num_cpus": 2, "include_dashboard": False, "log_to_driver": True, "_system_config": ray_utils.LOCAL_SYSTEM_CONFIG}  # fmt: skip
    assert client == {"address": "ray://head:10001", "include_dashboard": False, "log_to_driver": True}  # fmt: skip
    assert env["address"] == "10.0.0.5:6380" and "num_cpus" not in env
    said = [r.getMessage() for r in caplog.records if r.name == "recycle.progress.ray"]
    assert said == [
        "ray: started a private local Ray (1 node(s), 2 CPU, 0 GPU)",
        "ray: joined the cluster at ray://head:10001 (1 node(s), 2 CPU, 0 GPU)",
        "ray: joined the cluster at 10.0.0.5:6380 (1 node(s), 2 CPU, 0 GPU)",
    ]
    assert "ray.num_cpus=2 is ignored: joining the cluster at ray://head:10001" in caplog.text


def test_local_forces_a_private_ray_whatever_the_environment_names(monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6380")
    assert ray_utils.cluster_address("local") is None
    assert ray_utils.cluster_address(None) == "10.0.0.5:6380"
    assert ray_utils.cluster_address("10.0.0.1:6379") == "10.0.0.1:6379"
    monkeypatch.delenv("RAY_ADDRESS")
    assert ray_utils.cluster_address(None) is None  # no `ray start` recorded a cluster here


def test_a_cluster_recorded_by_ray_start_is_found_without_an_address(monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text("10.0.0.6:6390")
    assert ray_utils.cluster_address(None) == "10.0.0.6:6390"
    assert ray_utils.cluster_address("local") is None


def test_num_cpus_is_said_to_be_ignored_when_ray_is_already_up(monkeypatch, caplog):
    monkeypatch.setattr(ray_utils.ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray_utils, "quiet_ray", lambda quiet: None)
    ray_utils.init_ray(RayConfig(num_cpus=3))
    assert "ray.num_cpus=3 is ignored: Ray is already up in this process" in caplog.text


def test_a_driver_returns_freed_arrow_memory_unless_the_user_chose_a_pool(monkeypatch):
    import pyarrow as pa

    before = pa.default_memory_pool()
    try:
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
        assert ray_utils.use_returning_memory_pool() == "system"
        assert pa.default_memory_pool().backend_name == "system"
        pa.set_memory_pool(pa.mimalloc_memory_pool())
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")
        assert ray_utils.use_returning_memory_pool() == "mimalloc"
    finally:
        pa.set_memory_pool(before)
