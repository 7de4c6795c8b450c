"""The plan before any work: what a job asks of the cluster, placed on its nodes, refused when it
cannot run, with what it waits for when the resources exist but are held."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from recycle.config import load_config
from recycle.errors import ConfigError
from recycle.pipeline.nodes import Cluster, Node, parse_shape
from recycle.pipeline.plan import plan_run, plan_train, run_asks
from recycle.pipeline.resources import fit_to_cluster, gpu_share
from recycle.teacher.serve import replica_bundles

ROOT = Path(__file__).resolve().parents[3]
SERVED = ROOT / "jobs" / "configs" / "vllm_teacher_served.yaml"
PRESET_7B = ROOT / "jobs" / "configs" / "alpaca_llama2_7b.yaml"
PRESET_13B = ROOT / "jobs" / "configs" / "alpaca_llama2_13b.yaml"
H100 = "accelerator_type:H100"


def served(*overrides: str):
    return load_config(str(SERVED), list(overrides))


def student_gpus(plan) -> float:
    return sum(a.total().get("GPU", 0.0) for a in plan.asks if a.what.startswith("student"))


def test_a_served_teacher_holding_every_gpu_of_the_node_is_refused():
    """The shipped served config (tensor parallel 8) on one 8-GPU node: the student pools would
    wait forever for a GPU; refused, naming the setting."""
    with pytest.raises(ConfigError, match=r"teacher.serve holds 8 of the cluster's 8 GPUs .*"
                       r"16 student actors .*lower teacher.serve.tensor_parallel_size"):  # fmt: skip
        plan_run(served(), parse_shape("1x8:H100"))
    with pytest.raises(ConfigError, match="leaves none to the 16 student actors"):
        fit_to_cluster(served(), {"CPU": 96.0, "GPU": 8.0})


def test_at_tensor_parallel_4_both_phases_share_the_four_free_gpus():
    plan = plan_run(served("teacher.serve.tensor_parallel_size=4"), parse_shape("1x8:H100"))
    assert plan.config.student.num_gpus_per_actor == 0.25  # 16 actors on 4 GPUs
    pools = {a.what: a for a in plan.asks if a.what.startswith("student")}
    assert sorted(pools) == ["student pool, phase 1", "student pool, phase 2"]
    assert all(p.count == 8 and p.total()["GPU"] == 2.0 for p in pools.values())
    assert student_gpus(plan) == 4.0 and plan.record()["gpus_held"] == 8.0
    assert plan.placed["served teacher replica"] == {"node1": 4}
    assert plan.awaited == []


def test_on_two_nodes_the_teacher_takes_one_and_the_students_the_other():
    plan = plan_run(served(), parse_shape("2x8:H100"))
    assert plan.config.student.num_gpus_per_actor == 0.5
    assert plan.placed["served teacher replica"] == {"node1": 8}
    assert plan.placed["student pool, phase 1"] == {"node2": 8}
    assert plan.placed["student pool, phase 2"] == {"node2": 8}


def test_student_actors_get_their_cpus_on_the_nodes_where_the_free_gpus_are():
    """12 GPUs held by the teacher (2 replicas on one node, 1 on the other): the 8 student actors
    all go where the last 4 GPUs are, so their CPUs must fit that node, not just the cluster."""
    cfg = served("teacher.serve.tensor_parallel_size=4", "teacher.serve.num_replicas=3",
                 "student.num_actors=4", "teacher.num_actors=1")  # fmt: skip
    cluster = parse_shape("2x8:H100/6")
    by_total = fit_to_cluster(cfg, cluster.totals())
    assert by_total.student.num_cpus_per_actor * 8 > 6 - 1  # the total's share overfills the node
    plan = plan_run(cfg, cluster)
    cpus = plan.config.student.num_cpus_per_actor
    assert cpus == pytest.approx(by_total.student.num_cpus_per_actor / 2)
    assert (
        plan.placed["student pool, phase 1"] == plan.placed["student pool, phase 2"] == {"node2": 4}
    )
    assert 8 * cpus <= 6 - 1  # beside the third replica's CPU


@pytest.mark.parametrize(("free", "actors", "share"), [(4, 16, 0.25), (8, 16, 0.5), (16, 16, 1.0),
                                                       (3, 16, 0.1666), (1, 3, 0.3333), (5, 2, 1.0)])  # fmt: skip
def test_a_gpu_share_packs_whole_actors_on_each_gpu(free, actors, share):
    assert gpu_share(free, actors) == share
    assert free * math.floor(1 / share + 1e-9) >= actors  # a fraction never spans two GPUs


def test_a_gpu_type_no_node_has_is_refused_and_one_they_have_is_kept():
    with pytest.raises(
        ConfigError, match=r"accelerator_type=A100: no node .* has A100 GPUs \(H100\)"
    ):
        plan_run(served("teacher.serve.accelerator_type=A100"), parse_shape("2x8:H100"))
    plan = plan_run(served("teacher.serve.accelerator_type=H100"), parse_shape("2x8:H100"))
    assert all(b[H100] == 0.001 for b in plan.asks[0].bundles)


def test_the_shipped_served_teacher_configs_name_no_gpu_type():
    assert served().teacher.serve.accelerator_type is None
    deployment = yaml.safe_load((ROOT / "cluster" / "serve_llm_teacher.yaml").read_text())
    llm = deployment["applications"][0]["args"]["llm_configs"][0]
    assert "accelerator_type" not in llm
    assert (
        llm["engine_kwargs"]["tensor_parallel_size"] == served().teacher.serve.tensor_parallel_size
    )


def test_a_bundle_bigger_than_any_node_is_refused():
    with pytest.raises(ConfigError, match=r"cpus_per_worker=200.*more than any node has .*96 CPU"):
        plan_train(served("train.cpus_per_worker=200"), parse_shape("2x8:H100"))
    with pytest.raises(ConfigError, match=r"num_gpus_per_actor=16.*more than any node"):
        plan_run(served("student.num_gpus_per_actor=16"), parse_shape("2x8:H100"))


def test_training_workers_hold_one_gpu_each_and_more_than_the_cluster_has_are_refused():
    plan = plan_train(load_config(str(PRESET_13B)), parse_shape("2x8:H100"))
    assert plan.record()["gpus_held"] == 8.0 and plan.placed["training workers"] == {"node1": 8}
    with pytest.raises(ConfigError, match=r"train.num_workers=16, .*do not fit .*lower train.num_workers"):  # fmt: skip
        plan_train(served("train.num_workers=16"), parse_shape("1x8:H100"))
    with pytest.raises(ConfigError, match="more than any node"):
        plan_train(served(), parse_shape("1x0/64"))  # GPU workers, no GPU anywhere


def test_a_served_teacher_on_the_cpus_of_a_two_core_machine_is_refused_naming_the_ingress():
    """What hung on a laptop: the replica took both CPUs, the OpenAI ingress waited for a third."""
    cfg = served("teacher.serve.device=cpu", "teacher.serve.tensor_parallel_size=1",
                 "teacher.num_actors=1", "student.num_actors=1")  # fmt: skip
    with pytest.raises(ConfigError, match=r"teacher.serve: the served teacher's OpenAI ingress .*"
                       r"ray.num_cpus"):  # fmt: skip
        plan_run(cfg, parse_shape("1x0/2"))
    plan = plan_run(cfg, parse_shape("1x0/8"))
    assert plan.asks[0].bundles == ({"CPU": 2.0},)  # its worker's CPU + the replica's own
    assert plan.asks[1].bundles == ({"CPU": 1.0},)  # the ingress


def test_resources_held_by_another_job_are_awaited_not_refused():
    held = Node("n1", {"CPU": 96.0, "GPU": 8.0, H100: 1.0}, {"CPU": 96.0, "GPU": 0.0, H100: 1.0})
    plan = plan_train(load_config(str(PRESET_13B)), Cluster((held,)))
    assert plan.placed["training workers"] == {"n1": 8}
    assert len(plan.awaited) == 1 and "training workers" in plan.awaited[0]
    assert "held now by another job" in plan.awaited[0]
    assert any("waiting for training workers" in line for line in plan.lines())


def test_nodes_the_autoscaler_may_add_are_awaited():
    head = Node("head", {"CPU": 8.0}, {"CPU": 8.0})
    gpu = Node("gpu-1", {"CPU": 96.0, "GPU": 8.0}, {}, autoscaled=True)
    plan = plan_train(load_config(str(PRESET_13B)), Cluster((head, gpu)))
    assert plan.placed["training workers"] == {"gpu-1": 8}
    assert plan.awaited == ["training workers: nodes the autoscaler may add"]


@pytest.mark.parametrize(("preset", "actors", "shape", "share"), [
    (PRESET_7B, 1, "2x8:H100", 1.0), (PRESET_13B, 8, "2x8:H100", 1.0), (PRESET_13B, 8, "1x8:H100", 0.5),
])  # fmt: skip
def test_the_presets_pools_on_8_gpu_nodes(preset, actors, shape, share):
    plan = plan_run(load_config(str(preset)), parse_shape(shape))
    pools = [a for a in plan.asks if a.what.startswith("student")]
    assert [p.count for p in pools] == [actors, actors]
    assert plan.config.student.num_gpus_per_actor == share
    assert student_gpus(plan) == 2 * actors * share


def test_the_plan_is_printed_in_a_few_lines_and_recorded():
    plan = plan_run(served("teacher.serve.tensor_parallel_size=4"), parse_shape("1x8:H100"))
    lines = plan.lines()
    assert lines[0] == "plan of recycle run on 1 node(s): 1 x (8 GPU H100, 96 CPU)"
    assert "  served teacher replica: (1 GPU, 1 CPU) + 3 x (1 GPU) on node1: 4" in lines
    assert "  student pool, phase 1: 8 x (0.25 GPU, 1 CPU) on node1: 8" in lines
    assert lines[-1] == "  GPUs held: 8 of 8" and len(lines) <= 10
    record = plan.record()
    assert record["command"] == "recycle run" and record["awaited"] == []
    assert record["asks"][0]["bundles"] == [{"GPU": 1.0, "CPU": 1.0}] + [{"GPU": 1.0}] * 3


def test_cluster_shapes_read_as_written():
    cluster = parse_shape("1x0/16+2x8:H100/96")
    assert [n.total for n in cluster.nodes] == [{"CPU": 16.0}] + [{"GPU": 8.0, "CPU": 96.0, H100: 1.0}] * 2  # fmt: skip
    assert parse_shape("8").nodes[0].total == {"GPU": 8.0, "CPU": 96.0}
    with pytest.raises(ConfigError, match="NODESxGPUS"):
        parse_shape("two nodes")


def test_no_gpu_cluster_scores_on_cpu_as_before():
    cfg = load_config(None, ["student.num_actors=2"])
    plan = plan_run(cfg, parse_shape("1x0/8"))
    assert plan.config.student.num_gpus_per_actor is None and student_gpus(plan) == 0.0
    assert [a.what for a in run_asks(plan.config)][:2] == ["student pool, phase 1", "student pool, phase 2"]  # fmt: skip


@pytest.mark.integration  # Ray Serve LLM starts Ray to build the deployment's options
def test_the_replica_bundles_are_ray_serve_llms():
    """The bundles planned are the ones Ray Serve LLM asks for (needs ray[serve,llm])."""
    llm = pytest.importorskip("ray.serve.llm", exc_type=ImportError)
    from recycle.teacher.serve import llm_config_kwargs

    for overrides in (["teacher.serve.tensor_parallel_size=4", "teacher.serve.accelerator_type=H100"],
                      ["teacher.serve.device=cpu", "teacher.serve.tensor_parallel_size=1"]):  # fmt: skip
        teacher = served(*overrides).teacher
        config = llm.LLMConfig(**llm_config_kwargs(teacher))
        asked = llm.LLMServer.get_deployment_options(config)["placement_group_bundles"]
        assert [{k: v for k, v in b.items() if v} for b in asked] == replica_bundles(teacher.serve)


def test_config_show_prints_the_plans_on_a_cluster_shape(capsys):
    from recycle.cli.main import main

    tp4 = ["config", "show", str(SERVED), "teacher.serve.tensor_parallel_size=4"]
    assert main([*tp4, "--cluster", "1x8:H100"]) == 0
    out = capsys.readouterr().out
    assert "# plan of recycle run on 1 node(s): 1 x (8 GPU H100, 96 CPU)\n" in out
    assert "#   student pool, phase 2: 8 x (0.25 GPU, 1 CPU) on node1: 8\n" in out
    assert "#   training workers: 8 x (1 GPU, 8 CPU) on node1: 8\n" in out
    assert main(["config", "show", str(SERVED), "--cluster", "1x8:H100"]) == 2
    assert "recycle run on --cluster 1x8:H100: teacher.serve holds 8" in capsys.readouterr().err
