"""The device mesh: HSDP (shard within a node, replicate across nodes) when workers span nodes,
and a 4-rank gloo run on two 2-rank "nodes" that computes what the flat mesh computes."""

import pytest
import torch

from recycle.train.model import mesh_shape
from recycle.train.schedule import Layout
from tests.unit.train.fsdp_workers import mesh_worker, write_batches
from tests.unit.train.gloo_ranks import run_ranks


def test_workers_on_two_nodes_shard_within_and_replicate_across():
    assert mesh_shape([0, 0, 1, 1]) == (2, 2)
    assert mesh_shape([0] * 8 + [1] * 8) == (2, 8)
    assert mesh_shape([0, 0, 1, 1], kind="flat") == (4,)


def test_one_node_or_uneven_nodes_keep_a_flat_mesh():
    assert mesh_shape([0] * 8) == (8,)
    assert mesh_shape([0]) == (1,)
    assert mesh_shape([0, 0, 0, 1]) == (4,)  # 3 + 1 workers: no common shard size
    assert mesh_shape([0, 1, 0, 1]) == (4,)  # a node's ranks not contiguous
    assert mesh_shape([0, 1]) == (2,)  # one worker per node: nothing to shard within a node


@pytest.fixture(scope="module")
def four_ranks(tiny_model_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("mesh")
    write_batches(tiny_model_dir, workdir, Layout(global_rows=8, num_workers=4, micro_batch_size=1))
    return run_ranks(mesh_worker, 4, workdir)


def test_hsdp_mesh_trains_like_the_flat_mesh(four_ranks):
    hsdp, flat = four_ranks["auto"], four_ranks["flat"]
    assert hsdp["mesh"] == ((2, 2), ("replicate", "shard"))
    assert flat["mesh"] == ((4,), ("shard",))
    assert hsdp["loss"] == pytest.approx(flat["loss"], rel=1e-6)
    assert hsdp["grad_norm"] == pytest.approx(flat["grad_norm"], rel=1e-5)
    assert hsdp["params"].keys() == flat["params"].keys()
    for k, v in flat["params"].items():
        assert torch.allclose(hsdp["params"][k], v, rtol=1e-5, atol=1e-7), k
