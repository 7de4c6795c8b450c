"""Table 6 from the run's own columns equals `recycle stats` on the same data, with no extra pass."""

from __future__ import annotations

import math

import pytest

from recycle.commands.pipeline import run_pipeline
from recycle.commands.stats import run_stats
from recycle.student.stats import ROW

from .conftest import pipeline_config

pytestmark = pytest.mark.integration  # local Ray

# The run scores (x0, y0) in phase 1 packed with (x_ins, y_ins), `recycle stats` scores it alone:
# other micro-batches, so float32 sums in another order (~1e-6 relative); Sentence-BERT embeds
# in other batches (other padding). Token counts are exact.
REL = 1e-4


def _assert_same(got: dict, want: dict) -> None:
    assert got["samples"] == want["samples"] and got["unscored"] == want["unscored"]
    for key, _, _ in ROW:
        if key.endswith("tokens"):
            assert got[key] == want[key], key
        else:
            assert math.isfinite(got[key]) and got[key] == pytest.approx(want[key], rel=REL), key


def test_table6_of_a_run_equals_recycle_stats(
    ray_local, tmp_path, small_dataset, tiny_model_dir, clean_teacher
):
    out = tmp_path / "run"
    cfg = pipeline_config(
        small_dataset, out, tiny_model_dir, clean_teacher.base_url,
        "output.report_stats=true", "selection.require_response_reflected=false",
    )  # fmt: skip
    manifest = run_pipeline(cfg)
    stats = manifest["stats"]
    assert (
        manifest["counts"]["kept"] > 0 and stats["final"]["samples"] == manifest["counts"]["kept"]
    )
    _assert_same(stats["original"], run_stats(cfg))
    final = cfg.model_copy(deep=True)
    final.data.input, final.data.format = manifest["outputs"]["alpaca_json"], "json"
    _assert_same(stats["final"], run_stats(final))
    assert manifest["timings_s"]["stats"] < 5  # read from the run's columns, not scored again
