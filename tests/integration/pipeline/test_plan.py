"""The selective graph's light steps run inside their neighbours (Ray Data operator fusion), so
a run starts no task of its own for them: the choice of step 2 inside the response-reflection
actors, the choice of step 4 inside the Sentence-BERT actor when Table 6 is computed in-stream."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from recycle.pipeline.graph import reflection_graph
from recycle.pipeline.stats import table6_in_stream
from tests.support.tiny_model import alpaca_rows

from .conftest import pipeline_config

pytestmark = pytest.mark.integration  # local Ray


def physical_operators(ds) -> list:
    """The operators Ray Data would run for `ds`, after its optimizer fused what it could."""
    from ray.data._internal.logical.optimizers import get_execution_plan

    plan, _ = get_execution_plan(ds._logical_plan)  # what ds.explain() and execution both build
    ops, todo = [], [plan.dag]
    while todo:
        op = todo.pop()
        ops.append(op)
        todo += op.input_dependencies
    return ops


def running(ops: list, udf: str) -> list[tuple[str, str]]:
    """(kind of operator, the functions fused in it) of every operator running `udf`."""
    return [(type(op).__name__, op.name) for op in ops if udf in op.name]


@pytest.mark.parametrize("stats", [False, True])
def test_choices_are_fused_into_the_next_actor_pool(ray_local, tmp_path, tiny_model_dir, stats):
    cfg = pipeline_config(
        tmp_path / "in.json", tmp_path / "out", tiny_model_dir, "http://127.0.0.1:9",
        f"output.report_stats={str(stats).lower()}",
    )  # fmt: skip
    teacher = SimpleNamespace(config=cfg.teacher, gate_name="unused", cache_dir=None)
    assert table6_in_stream(cfg) is stats
    ds = reflection_graph(ray_local.data.from_items(alpaca_rows(8)), cfg, teacher, stats)
    ops = physical_operators(ds)  # builds the plan; runs nothing of the graph
    [(kind, fused)] = running(ops, "choose_instruction_batch")  # one operator, no task of its own
    assert kind == "ActorPoolMapOperator" and "ReflectResponse" in fused, (kind, fused)
    [(kind, fused)] = running(ops, "choose_response_batch")
    assert ("CoherenceScorer" in fused) is stats, (kind, fused)


@pytest.mark.parametrize(
    ("overrides", "most"),
    [((), 1), (("student.num_actors=3",), 3), (("student.coherence_actors=2",), 2)],
)
def test_the_sentence_bert_pool_grows_with_the_scorers(
    ray_local, tmp_path, tiny_model_dir, overrides, most
):
    cfg = pipeline_config(
        tmp_path / "in.json", tmp_path / "out", tiny_model_dir, "http://127.0.0.1:9",
        "output.report_stats=true", *overrides,
    )  # fmt: skip
    teacher = SimpleNamespace(config=cfg.teacher, gate_name="unused", cache_dir=None)
    ds = reflection_graph(ray_local.data.from_items(alpaca_rows(8)), cfg, teacher, True)
    last = ds._logical_plan.dag  # the graph ends with the Table 6 coherence actors
    assert last.name == "MapBatches(CoherenceScorer)"
    assert (last.compute.min_size, last.compute.max_size) == (1, most)
