# ruff: noqa: F811  (pytest fixtures imported from tests.support.fixtures are parameters here)
"""Fine-tuning end to end on local Ray: 2 Ray Train workers, FSDP2 over gloo, the tiny Llama.

Two real runs share the module: one whose workers die right after step 10 (last checkpoint at
step 8), then the same command again, which must resume at step 9 and finish the 24 steps.
The killed run leaves the losses of its lost steps 9-10 behind, so the resumed run's next
losses are compared with what the interrupted run computed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from recycle.cli.main import main
from recycle.commands.train import run_finetune
from recycle.errors import InputError
from recycle.train.checkpoint import latest_state
from recycle.train.dataset import prepare
from recycle.train.finetune import TrainingError, storage_path
from recycle.train.metrics_log import read_metrics
from tests.support.fixtures import tiny_artifacts, tiny_model_dir, tiny_tokenizer_dir  # noqa: F401
from tests.support.train_support import single_process_losses, step_micro_batches, tiny_train_config

pytestmark = pytest.mark.integration

ROWS = 192  # 24 steps of global batch 8
STEPS = 24
CRASH_AFTER = 10  # the last checkpoint before it is step 8 (checkpoint_every_steps=8)


@pytest.fixture(scope="module", autouse=True)
def fast_reports():
    """Ray Train's controller polls reports every 2 s by default; tiny steps need faster polling."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")
        yield


@pytest.fixture(scope="module")
def runs(ray_local, tiny_model_dir, alpaca_path, tmp_path_factory):
    """The killed run and the resumed one, on the same config and run directory."""
    out = tmp_path_factory.mktemp("train_run")
    cfg = tiny_train_config(tiny_model_dir, alpaca_path, out, f"data.limit={ROWS}")
    with pytest.raises(TrainingError, match="run the same command again") as failed:
        run_finetune(cfg, fault_after_step=CRASH_AFTER)
    killed = {
        "metrics": read_metrics(str(out)),
        "state": latest_state(f"{storage_path(cfg)}/{cfg.train.name}"),
        "error": str(failed.value),
    }
    result = run_finetune(cfg)  # the same command again
    return {
        "cfg": cfg,
        "killed": killed,
        "result": result,
        "metrics": read_metrics(str(out)),
        "data": prepare(cfg),
    }


def test_loss_falls_on_real_alpaca_rows(runs):
    result, metrics = runs["result"], runs["metrics"]
    assert [m["step"] for m in metrics] == list(range(1, STEPS + 1))
    losses = [m["loss"] for m in metrics]
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < first - 0.5, losses
    assert result.metrics["step"] == STEPS and result.metrics["loss"] == pytest.approx(losses[-1])
    assert all(m["tokens_per_s_per_worker"] > 0 and m["peak_memory_gb"] > 0 for m in metrics)
    assert result.data["samples"] == ROWS and result.data["steps_per_epoch"] == [STEPS]


def test_training_writes_a_manifest_that_adds_up_beside_the_runs(runs):
    out = runs["cfg"].output.dir
    manifest = json.loads((Path(out) / "train" / "manifest.json").read_text())
    assert manifest["command"] == "train" and manifest["invariant"]["ok"]
    assert manifest["counts"]["input"] == ROWS + sum(runs["result"].data["left_out"].values())
    assert manifest["counts"]["kept"] == ROWS
    assert manifest["outputs"]["checkpoint"] == runs["result"].checkpoint
    assert manifest["train"]["metrics"]["step"] == STEPS
    # the rerun is one attempt, resumed from step 8: the killed run's steps 9 and 10 were redone
    assert {k: manifest["train"][k] for k in ("attempts", "restarts", "resumed_from")} == {
        "attempts": 1,
        "restarts": 0,
        "resumed_from": [8],
    }
    assert manifest["train"]["steps_redone"] == CRASH_AFTER - 8
    assert not (Path(out) / "manifest.json").exists()  # the pipeline's manifest name stays free


def test_killed_run_resumes_at_the_right_step_with_the_same_next_loss(runs):
    killed, metrics = runs["killed"], runs["metrics"]
    assert killed["state"].step == 8, "the last checkpoint before the kill"
    assert [m["step"] for m in killed["metrics"]] == list(range(1, CRASH_AFTER + 1))
    lost = {m["step"]: m["loss"] for m in killed["metrics"] if m["step"] > 8}
    resumed = {m["step"]: m["loss"] for m in metrics}
    # step 9 is the first step the second run trains: same rows, weights, optimizer, schedule
    assert resumed[9] == pytest.approx(lost[9], rel=1e-6) and resumed[10] == pytest.approx(
        lost[10], rel=1e-6
    )
    assert latest_state(f"{storage_path(runs['cfg'])}/{runs['cfg'].train.name}").step == STEPS


def test_fsdp_run_matches_a_single_process_run(runs):
    """Same schedule, same optimizer, no FSDP and no Ray: fp32 losses agree step by step."""
    cfg, data, metrics = runs["cfg"], runs["data"], runs["metrics"]
    tables = data.schedule.rank_tables
    steps = 12
    single = single_process_losses(cfg, tables, data.schedule.total_steps, data.pad_id, steps)
    fsdp = [m["loss"] for m in metrics[:steps]]
    assert fsdp == pytest.approx(single, rel=1e-4, abs=1e-5)
    # and the two workers really split every global batch
    for step in (1, STEPS):
        per_rank = [
            len(step_micro_batches([t], step, cfg.train.micro_batch_size, data.pad_id))
            for t in tables
        ]
        assert per_rank == [cfg.train.grad_accum_steps] * 2


def test_exported_folder_reloads_and_generates(runs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg, result, data = runs["cfg"], runs["result"], runs["data"]
    folder = result.model_dir
    tok = AutoTokenizer.from_pretrained(folder)
    trained = AutoModelForCausalLM.from_pretrained(folder)
    base = AutoModelForCausalLM.from_pretrained(cfg.student.model)
    assert trained.dtype == torch.float32  # fp32 recipe exports fp32
    manifest = json.loads(Path(folder, "recycle_train.json").read_text())
    assert manifest["state"]["step"] == STEPS and manifest["schedule"]["samples"] == ROWS
    ids = tok(
        "USER: Give three tips for staying healthy. ASSISTANT:", return_tensors="pt"
    ).input_ids
    out = trained.generate(ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > ids.shape[1]
    # the exported weights are the trained ones: they fit the training data better than the base
    batch = step_micro_batches(
        data.schedule.rank_tables, 1, cfg.train.micro_batch_size, data.pad_id
    )[0]
    assert _mean_nll(trained, batch) < _mean_nll(base, batch) - 0.3


def _mean_nll(lm, batch) -> float:
    from recycle.train.model import CausalLMLoss

    with torch.no_grad():
        nll, n = CausalLMLoss(lm.float())(
            batch["input_ids"], batch["position_ids"], batch["attention_mask"], batch["labels"]
        )
    return float(nll / n)


@pytest.mark.floors
def test_one_short_run_trains_and_exports(ray_local, tiny_model_dir, alpaca_path, tmp_path):
    """The lowest-versions step's training (.ci/run): one run of 12 steps, 2 Ray Train workers,
    FSDP2 over gloo; the loss falls and the exported folder reloads with weights that fit the
    training rows better than the base model's. (The killed and resumed runs above cover the rest
    and cost two trainings.)"""
    cfg = tiny_train_config(tiny_model_dir, alpaca_path, tmp_path, "data.limit=96")
    result = run_finetune(cfg)
    metrics = read_metrics(str(tmp_path))
    assert [m["step"] for m in metrics] == list(range(1, 13))
    losses = [m["loss"] for m in metrics]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3, losses
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(result.model_dir)
    base = AutoModelForCausalLM.from_pretrained(cfg.student.model)
    data = prepare(cfg)
    batch = step_micro_batches(
        data.schedule.rank_tables, 1, cfg.train.micro_batch_size, data.pad_id
    )[0]
    assert _mean_nll(trained, batch) < _mean_nll(base, batch) - 0.3


def test_trains_on_the_pipeline_s_kept_parquet_rows(
    ray_local, tiny_model_dir, alpaca_path, tmp_path
):
    """Without train.dataset, a run directory's kept/*.parquet (the pipeline's output) is the input,
    and its rows are their FINAL pairs (x2, y2), not the originals the rows also keep."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recycle import columns as C
    from recycle.data.normalize import sample_id
    from recycle.train.dataset import tokenize_dataset, training_input

    rows = json.loads(alpaca_path.read_text())[:48]
    kept = tmp_path / "kept"
    kept.mkdir()
    finals = []
    for part in (0, 1):
        chunk = rows[part * 24 : (part + 1) * 24]
        # part 1's rows were rewritten by the teacher and chosen; part 0's kept as they were
        final = [{**r, "output": r["output"] + " (recycled)"} if part else r for r in chunk]
        finals += final
        table = pa.table(
            {
                C.SAMPLE_ID: [sample_id(r["instruction"], r["input"], r["output"]) for r in chunk],
                C.INSTRUCTION: [r["instruction"] for r in chunk],
                C.INPUT: [r["input"] for r in chunk],
                C.OUTPUT: [r["output"] for r in chunk],
                C.FINAL_INSTRUCTION: [r["instruction"] for r in final],
                C.FINAL_INPUT: [r["input"] for r in final],
                C.FINAL_OUTPUT: [r["output"] for r in final],
                C.IFD: [0.5] * len(chunk),
            }
        )
        pq.write_table(table, kept / f"part-{part}.parquet")
    cfg = tiny_train_config(tiny_model_dir, alpaca_path, tmp_path, "data.input=null")
    assert training_input(cfg) == str(kept)
    trained_on = set(tokenize_dataset(cfg, str(kept))[C.SAMPLE_ID].to_pylist())
    assert trained_on == {sample_id(r["instruction"], r["input"], r["output"]) for r in finals}
    data = prepare(cfg)
    assert data.stats["samples"] == 48 and data.schedule.steps_per_epoch == [6]


def test_no_response_token_after_truncation_is_a_start_up_error(
    ray_local, tiny_model_dir, alpaca_path, tmp_path
):
    # the vicuna prompt alone is longer than 16 tokens: no sample keeps a response token
    cfg = tiny_train_config(
        tiny_model_dir, alpaca_path, tmp_path, "data.limit=40", "train.max_length=16"
    )
    with pytest.raises(
        InputError,
        match=r"none of the 40 samples keeps a response token within train.max_length=16.*no_room_for_target",
    ):
        prepare(cfg)


def test_cli_reports_start_up_errors(ray_local, tiny_model_dir, alpaca_path, tmp_path, capsys):
    common = [
        "train",
        f"student.model={tiny_model_dir}",
        f"data.input={alpaca_path}",
        f"output.dir={tmp_path}",
    ]
    assert (
        main(
            [
                *common,
                "train.num_workers=2",
                "train.micro_batch_size=4",
                "train.global_batch_size=12",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "train.global_batch_size=12 is not divisible by train.num_workers x train.micro_batch_size = 2 x 4 = 8"
        in err
    )
    assert (
        main([*common, "data.limit=20", "train.max_length=16", "train.mixed_precision=fp32"]) == 2
    )
    assert "keeps a response token" in capsys.readouterr().err
    assert (
        main(
            [
                *common,
                "data.limit=20",
                "train.global_batch_size=64",
                "train.micro_batch_size=1",
                "train.max_length=512",
            ]
        )
        == 2
    )
    assert "fewer samples per epoch than train.global_batch_size=64" in capsys.readouterr().err
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bf16_packed_run_on_one_gpu(ray_local, tiny_model_dir, alpaca_path, tmp_path):
    """The GPU recipe: NCCL, bf16 parameters with fp32 reduction, packing, flash-attention when installed."""
    cfg = tiny_train_config(
        tiny_model_dir,
        alpaca_path,
        tmp_path,
        "data.limit=256",
        "train.use_gpu=true",
        "train.num_workers=1",
        "train.micro_batch_size=2",
        "train.global_batch_size=4",
        "train.mixed_precision=bf16",
        "train.packing=true",
        "train.max_length=512",
    )
    result = run_finetune(cfg)
    losses = [m["loss"] for m in read_metrics(str(tmp_path))]
    assert losses[-1] < losses[0] - 0.5
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(result.model_dir).dtype == torch.bfloat16


def test_checkpoints_are_written_in_place_under_the_storage_path_in_the_background(runs):
    """train.async_checkpoint (the default): workers write each checkpoint straight into
    storage_path/name/step_* while training goes on; the final one is reported with its step."""
    cfg, result = runs["cfg"], runs["result"]
    assert cfg.train.async_checkpoint and cfg.train.storage_path is None
    run_dir = Path(storage_path(cfg)) / cfg.train.name
    assert result.checkpoint == str(run_dir / "step_00000024")
    assert result.metrics["step"] == STEPS
    folder = Path(result.checkpoint)
    assert {"trainer_state.json", ".metadata", "__0_0.distcp", "__1_0.distcp"} <= {
        p.name for p in folder.iterdir()
    }
    kept = sorted(p.name for p in run_dir.iterdir() if p.name.startswith("step_"))
    assert kept[-1] == "step_00000024" and len(kept) <= 3  # keep_checkpoints=2 (+ one in flight)
