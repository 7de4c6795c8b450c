"""The rehearsal: the shipped presets' shapes placed on a fake GPU cluster on this machine.

Two worker nodes declare 8 GPUs and `accelerator_type:H100` each (beside a 0-CPU head, all on
127.0.0.1): Ray schedules by those declarations while torch sees no CUDA and computes on the CPU.
One driver joins it through RAY_ADDRESS, as `ray job submit` makes a job join, and

- tries the plans that cannot run through the library's entries (`run_pipeline`, `run_finetune`):
  a served teacher leaving the student pools no GPU, a GPU type no node has, a worker bigger than
  any node, more training workers than GPUs; each is refused, exit status 2, within seconds;
- plans the presets' shapes on the live cluster (7B/13B actor counts and GPU shares, a served
  teacher at tensor parallel 4 and 8, the training workers);
- runs `recycle run` to the end with a served teacher at tensor parallel 4 (3 replicas: 12 GPUs
  held, 4 left to 2 phases x 4 student actors at 0.5 GPU). vLLM cannot start without a GPU, so a
  stand-in for Ray Serve LLM holds the same bundles (`replica_bundles`, one PACK placement group
  per replica, and the OpenAI ingress's CPU) while the teacher stages ask the scripted teacher
  server; every student actor records the GPU ids Ray gave it;
- holds the training workers' GPUs as the plan of `recycle train` says. Ray Train's CUDA set-up
  for torch (NCCL, torch.cuda) cannot run without a GPU, so a stand-in Ray Train run (its worker
  group and placement group, no torch backend) with the plan's `resources_per_worker` (1 GPU
  each) records each worker's GPU ids.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from recycle.testing.local_server import LocalTeacherServer
from recycle.testing.multinode import LocalCluster
from tests.support.tiny_model import alpaca_rows

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "jobs" / "configs"
SERVED = CONFIGS / "vllm_teacher_served.yaml"
TEACHER_MODEL = "llama-3.1-70b-instruct"  # the served config's teacher.model
ROWS = 12
REFUSED_WITHIN_S = 15.0  # the plan takes ms; the first case imports the pipeline (2 busy cores)


@pytest.fixture(scope="module")
def fake_gpus() -> Iterator[LocalCluster]:
    """A 0-CPU head and two worker nodes of 8 fake H100s and 6 CPUs each, on 127.0.0.1."""
    with LocalCluster(workers=2, cpus_per_worker=6, gpus_per_worker=8,
                      worker_resources={"accelerator_type:H100": 1}) as cluster:  # fmt: skip
        yield cluster


@pytest.fixture(scope="module")
def rehearsal(fake_gpus, tiny_model_dir, tmp_path_factory) -> dict[str, Any]:
    """One driver on the fake cluster runs every case; what it saw, by case."""
    tmp = tmp_path_factory.mktemp("rehearsal")
    data = tmp / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in alpaca_rows(ROWS)))
    with LocalTeacherServer(model=TEACHER_MODEL) as server:
        spec = {"data": str(data), "tmp": str(tmp), "student": str(tiny_model_dir),
                "teacher_url": server.base_url, "result": str(tmp / "result.json")}  # fmt: skip
        (tmp / "spec.json").write_text(json.dumps(spec))
        code = f"from tests.integration.cluster.test_rehearsal import drive; drive({str(tmp / 'spec.json')!r})"  # fmt: skip
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=fake_gpus.driver_env(PYTHONPATH=str(REPO)),
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-5000:])
    result = json.loads(Path(spec["result"]).read_text())
    result["driver_s"] = time.perf_counter() - t0
    result["console"] = done.stderr
    print(f"rehearsal driver: {result['driver_s']:.1f} s, by step {result['seconds']}")
    return result


# --- what the driver runs (in its own process, joined to the fake cluster) ---


def drive(spec_file: str) -> None:
    """Every case of the rehearsal, in one driver; writes what it saw to spec["result"]."""
    from recycle.config.data import RayConfig
    from recycle.ray_utils import init_ray

    spec = json.loads(Path(spec_file).read_text())
    init_ray(RayConfig())  # joins RAY_ADDRESS
    result: dict[str, Any] = {"seconds": {}}
    steps = {"refusals": lambda: refusals(spec), "presets": preset_plans,
             "run": lambda: served_run(spec), "train": lambda: training_workers(spec)}  # fmt: skip
    for name, step in steps.items():
        t0 = time.perf_counter()
        result[name] = step()
        result["seconds"][name] = round(time.perf_counter() - t0, 1)
        print(f"rehearsal {name}: {result['seconds'][name]} s", file=sys.stderr, flush=True)
    Path(spec["result"]).write_text(json.dumps(result))


def config(spec: dict, path: Path, *overrides: str):
    from recycle.config import load_config

    out = Path(spec["tmp"]) / f"out{time.perf_counter_ns()}"
    return load_config(str(path), [
        f"data.input='{spec['data']}'", f"output.dir='{out}'", f"student.model='{spec['student']}'",
        "teacher.cache_dir=null", "train.storage_path=null", *overrides,
    ])  # fmt: skip


REFUSALS = {  # case: (entry, config, overrides)
    "teacher_leaves_no_gpu": ("run", SERVED, ["teacher.serve.num_replicas=2"]),  # TP 8 x 2 = 16
    "gpu_type_no_node_has": ("run", SERVED, ["teacher.serve.accelerator_type=A100"]),
    "worker_bigger_than_any_node": ("train", SERVED, ["train.cpus_per_worker=64"]),
    "more_workers_than_gpus": (
        "train",
        SERVED,
        ["train.num_workers=32", "train.micro_batch_size=1"],
    ),  # fmt: skip
}


def refusals(spec: dict) -> dict[str, dict]:
    from recycle.commands.pipeline import run_pipeline
    from recycle.commands.train import run_finetune
    from recycle.errors import RecycleError
    from recycle.exit_codes import exit_code_of

    out = {}
    for case, (entry, path, overrides) in REFUSALS.items():
        cfg = config(spec, path, *overrides)
        t0 = time.perf_counter()
        try:
            (run_pipeline if entry == "run" else run_finetune)(cfg, preflight=False)
            out[case] = {"code": 0, "message": "", "seconds": time.perf_counter() - t0}
        except RecycleError as err:
            out[case] = {"code": exit_code_of(err), "message": str(err),
                         "seconds": time.perf_counter() - t0}  # fmt: skip
    return out


def preset_plans() -> dict[str, dict]:
    from recycle.config import load_config
    from recycle.pipeline.nodes import read_cluster
    from recycle.pipeline.plan import plan_run, plan_train

    cluster = read_cluster()
    shapes = {
        "7b": (CONFIGS / "alpaca_llama2_7b.yaml", []),
        "13b": (CONFIGS / "alpaca_llama2_13b.yaml", []),
        "served_tp4": (SERVED, ["teacher.serve.tensor_parallel_size=4"]),
        "served_tp8": (SERVED, []),
    }
    out = {}
    for name, (path, overrides) in shapes.items():
        plan = plan_run(load_config(str(path), overrides), cluster)
        workers = load_config(str(path), [*overrides, "train.cpus_per_worker=0.5"])  # 6-CPU nodes
        out[name] = {"share": plan.config.student.num_gpus_per_actor, "lines": plan.lines(),
                     "record": plan.record(), "train": plan_train(workers, cluster).record()}  # fmt: skip
    return out


def served_run(spec: dict) -> dict[str, Any]:
    """`run_pipeline` to the end, the served teacher stood in for (see the module's docstring)."""
    import ray

    from recycle.commands.pipeline import run_pipeline
    from recycle.student import scoring_actor
    from recycle.teacher import session

    records = Path(spec["tmp"]) / "student_gpus"
    records.mkdir()

    class RecordedScorer(scoring_actor.StudentScorer):
        def __init__(self, *args, **kwargs):
            node = ray.get_runtime_context().get_node_id()[:8]
            entry = {"node": node, "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}
            (records / f"{time.time_ns()}.json").write_text(json.dumps(entry))
            super().__init__(*args, **kwargs)

    cfg = config(spec, SERVED, "teacher.serve.tensor_parallel_size=4",
                 "teacher.serve.num_replicas=3", "student.num_actors=4", "student.batch_size=4",
                 "student.max_length=512", "teacher.num_actors=1", "teacher.concurrency=4",
                 "teacher.max_parse_retries=0", "selection.require_response_reflected=false",
                 "output.report_stats=false")  # fmt: skip
    holders: list[dict] = []
    scoring_actor.StudentScorer = RecordedScorer
    session.serving = lambda teacher: stand_in_serving(teacher, spec["teacher_url"], holders)
    with peak_gpus_held() as peak:
        manifest = run_pipeline(cfg, preflight=False)
    students = [json.loads(p.read_text()) for p in records.iterdir()]
    return {"manifest": {k: manifest[k] for k in ("plan", "counts", "invariant", "status")},
            "students": students, "teacher": holders, "peak_gpus_held": peak["held"]}  # fmt: skip


@contextmanager
def stand_in_serving(teacher, url: str, holders: list[dict]):
    """Ray Serve LLM's bundles held by placement groups (one per replica, PACK, as it asks) and
    a GPU holder in each GPU bundle recording its GPU; the stages ask the scripted server."""
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from recycle.teacher.serve import INGRESS_CPUS, Served, replica_bundles, served_config

    @ray.remote(num_cpus=0, num_gpus=1)
    def held_gpu() -> dict:
        node = ray.get_runtime_context().get_node_id()[:8]
        return {"node": node, "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}

    bundles = replica_bundles(teacher.serve)
    groups = [placement_group(bundles, strategy="PACK") for _ in range(teacher.serve.num_replicas)]
    groups.append(placement_group([{"CPU": INGRESS_CPUS}]))
    ray.get([g.ready() for g in groups], timeout=60)
    for group in groups[:-1]:
        for i in range(len(bundles)):
            on = PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=i)
            holders.append(ray.get(held_gpu.options(scheduling_strategy=on).remote()))
    try:
        yield Served(served_config(teacher, url), {"app": "stand-in", "device": "gpu"})
    finally:
        for group in groups:
            remove_placement_group(group)


@contextmanager
def peak_gpus_held():
    """The most GPUs held at once while the block runs (Ray's free GPUs, polled)."""
    import ray

    total, peak, stop = ray.cluster_resources().get("GPU", 0.0), {"held": 0.0}, threading.Event()

    def poll() -> None:
        while not stop.is_set():
            held = total - ray.available_resources().get("GPU", 0.0)
            peak["held"] = max(peak["held"], held)
            time.sleep(0.2)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def training_workers(spec: dict) -> dict[str, Any]:
    """The 13B preset's 8 workers placed as `recycle train` plans them, on a stand-in loop."""
    import ray.train
    from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

    from recycle.pipeline.nodes import read_cluster
    from recycle.pipeline.plan import plan_train

    records = Path(spec["tmp"]) / "worker_gpus"
    records.mkdir()
    cfg = config(spec, CONFIGS / "alpaca_llama2_13b.yaml", "train.cpus_per_worker=0.5")
    plan = plan_train(cfg, read_cluster())
    (ask,) = plan.asks

    def loop(_: dict) -> None:
        import ray as worker_ray

        node = worker_ray.get_runtime_context().get_node_id()[:8]
        entry = {"node": node, "gpu_ids": [str(g) for g in worker_ray.get_gpu_ids()]}
        (records / f"{ray.train.get_context().get_world_rank()}.json").write_text(json.dumps(entry))

    DataParallelTrainer(
        loop, train_loop_config={},
        scaling_config=ray.train.ScalingConfig(num_workers=len(ask.bundles), use_gpu=True,
                                               resources_per_worker=ask.bundles[0]),
        run_config=ray.train.RunConfig(name="rehearsal", storage_path=str(Path(spec["tmp"]) / "train")),
    ).fit()  # fmt: skip
    workers = [json.loads(p.read_text()) for p in sorted(records.iterdir())]
    return {"plan": plan.record(), "workers": workers}


# --- the tests ---


@pytest.mark.parametrize(("case", "says"), [
    ("teacher_leaves_no_gpu", "teacher.serve holds 16 of the cluster's 16 GPUs"),
    ("gpu_type_no_node_has", "teacher.serve.accelerator_type=A100: no node of the cluster has A100 GPUs (H100)"),
    ("worker_bigger_than_any_node", "cpus_per_worker=64"),
    ("more_workers_than_gpus", "train.num_workers=32"),
])  # fmt: skip
def test_a_plan_that_cannot_run_is_refused_in_seconds(rehearsal, case, says):
    refused = rehearsal["refusals"][case]
    assert refused["code"] == 2 and says in refused["message"], refused
    assert refused["seconds"] < REFUSED_WITHIN_S, refused


def test_the_presets_shapes_on_two_8_gpu_nodes(rehearsal):
    presets = rehearsal["presets"]
    student = {n: [a for a in p["record"]["asks"] if a["what"].startswith("student")] for n, p in presets.items()}  # fmt: skip
    assert [a["count"] for a in student["7b"]] == [1, 1] and presets["7b"]["share"] == 1.0
    assert [a["count"] for a in student["13b"]] == [8, 8] and presets["13b"]["share"] == 1.0
    assert (
        presets["served_tp4"]["share"] == 0.5
    )  # 16 actors on the 12 GPUs tensor parallel 4 leaves
    assert presets["served_tp8"]["share"] == 0.5  # 16 actors on the other node's 8
    assert presets["served_tp8"]["record"]["gpus_held"] == 16.0
    teacher = presets["served_tp8"]["record"]["asks"][0]
    assert sorted(teacher["nodes"].values()) == [8]  # the replica packed on one node
    assert all(p["train"]["gpus_held"] == 8.0 for p in presets.values())  # 8 workers x 1 GPU
    assert presets["served_tp4"]["lines"][0].startswith("plan of recycle run on 3 node(s)")


def test_a_served_teacher_at_tensor_parallel_4_runs_to_the_end_as_planned(rehearsal):
    run = rehearsal["run"]
    manifest = run["manifest"]
    assert manifest["status"] == "finished" and manifest["invariant"]["ok"]
    assert manifest["counts"]["input"] == ROWS
    plan = {a["what"]: a for a in manifest["plan"]["asks"]}
    assert plan["served teacher replica"]["count"] == 3 and manifest["plan"]["gpus_held"] == 16.0
    assert [b.get("GPU") for b in plan["student pool, phase 1"]["bundles"]] == [0.5]
    assert plan["student pool, phase 1"]["count"] == plan["student pool, phase 2"]["count"] == 4
    # the stand-in held the teacher's GPUs: 3 replicas x 4, whole GPUs, none shared
    teacher = [(h["node"], g) for h in run["teacher"] for g in h["gpu_ids"]]
    assert len(teacher) == len(set(teacher)) == 12
    # every student actor got one GPU of the 4 the teacher left, two actors to a GPU at most
    students = [(s["node"], g) for s in run["students"] for g in s["gpu_ids"]]
    assert len(run["students"]) == 8 and all(len(s["gpu_ids"]) == 1 for s in run["students"])
    assert not set(students) & set(teacher)
    assert len(set(students)) <= 4 and max(Counter(students).values()) <= 2
    assert run["peak_gpus_held"] == pytest.approx(16.0)  # 12 teacher + 8 x 0.5 student, at once


def test_the_training_workers_hold_the_gpus_the_plan_says(rehearsal):
    train = rehearsal["train"]
    (ask,) = train["plan"]["asks"]
    assert ask["count"] == 1 and len(ask["bundles"]) == 8 and ask["bundles"][0]["GPU"] == 1.0
    workers = train["workers"]
    gpus = [(w["node"], g) for w in workers for g in w["gpu_ids"]]
    assert len(workers) == 8 and all(len(w["gpu_ids"]) == 1 for w in workers)
    assert len(set(gpus)) == 8  # one GPU each, none shared
    per_node = sorted(Counter(w["node"] for w in workers).values())
    assert per_node == sorted(ask["nodes"].values()) == [8]  # packed on one node, as planned
