"""A rerun of a finished run keeps its export and report only while they still describe it."""

from __future__ import annotations

import json

import pytest

from recycle.config import load_config
from recycle.pipeline.steps import unchanged_outputs

COUNTS = {"kept": 2, "dropped": {"ifd_not_below_one": 1}, "rejected": {}}


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "report").mkdir()
    for name in ("recycled_alpaca.json", "report/report.html"):
        (tmp_path / name).write_text("x")
    manifest = {
        "status": "finished",
        "counts": {"input": 3, **COUNTS},
        "outputs": {"alpaca_json": str(tmp_path / "recycled_alpaca.json"),
                    "report": str(tmp_path / "report" / "report.html")},
    }  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def cfg(run_dir, *more):
    return load_config(None, [f"output.dir={run_dir}", "output.report_stats=false", *more])


def test_a_finished_run_with_the_same_counts_keeps_its_outputs(run_dir):
    made = unchanged_outputs(cfg(run_dir), 3, COUNTS)
    assert made == {"alpaca_json": str(run_dir / "recycled_alpaca.json"),
                    "report": str(run_dir / "report" / "report.html")}  # fmt: skip


@pytest.mark.parametrize("change", ["counts", "input", "missing report", "stopped", "no manifest", "stats wanted"])  # fmt: skip
def test_outputs_are_written_again_when_anything_differs(run_dir, change):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    n_input, counts, more = 3, dict(COUNTS), []
    if change == "counts":
        counts["kept"] = 1
    elif change == "input":
        n_input = 4
    elif change == "missing report":
        (run_dir / "report" / "report.html").unlink()
    elif change == "stopped":
        manifest["status"] = "stopped"
    elif change == "no manifest":
        (run_dir / "manifest.json").unlink()
    elif change == "stats wanted":
        more = ["output.report_stats=true", f"student.model={run_dir}"]
    if change != "no manifest":
        (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert unchanged_outputs(cfg(run_dir, *more), n_input, counts) == {}
