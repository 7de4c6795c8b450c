"""The local Ray's system config: the idle-worker setting, unless the environment sets it."""

from __future__ import annotations

from recycle import ray_utils


def test_local_ray_keeps_idle_workers_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("RAY_idle_worker_killing_time_threshold_ms", raising=False)
    assert ray_utils.local_system_config() == {"idle_worker_killing_time_threshold_ms": 20_000}
    monkeypatch.setenv("RAY_idle_worker_killing_time_threshold_ms", "1000")
    assert ray_utils.local_system_config() == {}


def test_init_ray_passes_it_only_to_a_ray_it_starts(monkeypatch):
    calls = []
    monkeypatch.setattr(ray_utils.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray_utils.ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setattr(ray_utils.ray, "cluster_resources", dict)
    monkeypatch.setattr(ray_utils, "quiet_ray", lambda: None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_idle_worker_killing_time_threshold_ms", raising=False)
    from recycle.config.data import RayConfig

    ray_utils.init_ray(RayConfig(num_cpus=2))
    ray_utils.init_ray(RayConfig(address="ray://head:10001"))
    assert calls[0]["_system_config"] == ray_utils.LOCAL_SYSTEM_CONFIG
    assert calls[0]["num_cpus"] == 2
    assert "_system_config" not in calls[1] and "num_cpus" not in calls[1]


def test_a_driver_returns_freed_arrow_memory_unless_the_user_chose_a_pool(monkeypatch):
    import pyarrow as pa

    before = pa.default_memory_pool()
    try:
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
        assert ray_utils.use_returning_memory_pool() in ("jemalloc", "system")
        assert pa.default_memory_pool().backend_name in ("jemalloc", "system")
        pa.set_memory_pool(pa.mimalloc_memory_pool())
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")
        assert ray_utils.use_returning_memory_pool() == "mimalloc"
    finally:
        pa.set_memory_pool(before)
