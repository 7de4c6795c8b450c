"""Checkpoints on 2 FSDP2 ranks (gloo, CPU): written in the background while the next step
trains, into the configured folder (never /tmp), and a run restored from one computes the
same next step; the Ray adapter reports a checkpoint once every rank finished writing it."""

import pytest

from recycle.train.schedule import Layout
from tests.unit.train.fsdp_workers import checkpoint_worker, write_batches
from tests.unit.train.gloo_ranks import run_ranks

WORLD = 2


@pytest.fixture(scope="module")
def ranks(tiny_model_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ckpt")
    write_batches(
        tiny_model_dir, workdir, Layout(global_rows=8, num_workers=WORLD, micro_batch_size=2)
    )
    return run_ranks(checkpoint_worker, WORLD, workdir), workdir


def test_restored_async_checkpoint_gives_the_same_next_step(ranks):
    out, _ = ranks
    assert out["restored_step"] == 1
    assert out["again"]["loss"] == pytest.approx(out["second"]["loss"], rel=1e-6)
    assert out["again"]["grad_norm"] == pytest.approx(out["second"]["grad_norm"], rel=1e-6)
    # step 2 trained while the checkpoint was written: what was written is step 1's state
    assert out["second"]["loss"] != pytest.approx(out["first"]["loss"], rel=1e-4)


def test_checkpoint_folder_holds_every_rank_s_files_and_the_state_last(ranks):
    out, _ = ranks
    assert out["files"] == [
        ".metadata",
        "__0_0.distcp",
        "__1_0.distcp",
        "extra_rank0.pt",
        "extra_rank1.pt",
        "trainer_state.json",
    ]


def test_writer_writes_under_the_configured_folders_and_reports_complete_checkpoints(ranks):
    out, workdir = ranks
    w = out["writer"]
    local_run = str(workdir / "storage" / "run")
    assert w["local_folder"] == f"{local_run}/step_00000003"  # written in place, no copy
    assert w["remote_staging_folder"] == str(workdir / "staging" / "step_00000004.rank0")
    assert [(r["metrics"]["step"], r["name"]) for r in w["reports"]] == [
        (3, "step_00000003"),
        (4, "step_00000004"),
    ]
    assert w["reports"][0]["path"] == f"{local_run}/step_00000003"
    assert w["reports"][1]["path"] == "run/step_00000004"  # in the remote filesystem
    assert {r["mode"] for r in w["reports"]} == {"CheckpointUploadMode.NO_UPLOAD"}
    uploaded = sorted(p.name for p in (workdir / "remote" / "run" / "step_00000004").iterdir())
    assert "trainer_state.json" in uploaded and "__1_0.distcp" in uploaded
    assert list((workdir / "staging").iterdir()) == []  # each rank's removed once uploaded
    assert (workdir / "storage" / "run" / "step_00000003" / "trainer_state.json").exists()
