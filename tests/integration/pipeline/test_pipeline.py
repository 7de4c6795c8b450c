"""The whole pipeline on local Ray, a faulty local teacher and a tiny student; Table 6 from the
run's own columns equals `recycle stats` on the same data, with no extra pass."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from recycle import columns as C
from recycle.commands.pipeline import run_pipeline
from recycle.commands.stats import run_stats
from recycle.report.build import outcome_counts
from recycle.rundir import read_manifest, read_outcome
from recycle.select import select_reflected
from recycle.select.modes import STAGE as SELECT_STAGE
from recycle.student.stats import ROW
from tests.integration.pipeline.conftest import pipeline_config

pytestmark = pytest.mark.integration


def all_rows(run_dir) -> pd.DataFrame:
    frames = [t.to_pandas() for o in C.OUTCOMES if (t := read_outcome(str(run_dir), o)) is not None]
    return pd.concat(frames, ignore_index=True)


# The run scores (x0, y0) in phase 1 packed with (x_ins, y_ins), `recycle stats` scores it alone:
# other micro-batches, so float32 sums in another order (~1e-6 relative); Sentence-BERT embeds
# in other batches (other padding). Token counts are exact.
REL = 1e-4


def assert_same_stats(got: dict, want: dict) -> None:
    assert got["samples"] == want["samples"] and got["unscored"] == want["unscored"]
    for key, _, _ in ROW:
        if key.endswith("tokens"):
            assert got[key] == want[key], key
        else:
            assert math.isfinite(got[key]) and got[key] == pytest.approx(want[key], rel=REL), key


def test_selective_end_to_end(ray_local, tmp_path, small_dataset, tiny_model_dir, faulty_teacher):
    out = tmp_path / "run"
    cfg = pipeline_config(
        small_dataset, out, tiny_model_dir, faulty_teacher.base_url,
        "selection.require_response_reflected=false", "output.report_stats=true",
    )  # fmt: skip
    manifest = run_pipeline(cfg)

    counts = manifest["counts"]
    assert counts["input"] == 44 and manifest["invariant"]["ok"]
    assert counts["rejected"].get("duplicate") == 1 and sum(counts["rejected"].values()) >= 4
    rows = all_rows(out)
    assert len(rows) == 44  # a duplicate shares its original's sample id; every other id is unique
    assert rows[rows[C.REASON] != "duplicate"][C.SAMPLE_ID].is_unique
    # every sample the teacher could serve was scored in both phases, with real numbers
    scored = rows[rows[C.STAGE].isin(["", SELECT_STAGE])]
    assert len(scored) >= 30
    assert np.isfinite(scored["orig_ifd"].astype(float)).all()
    assert np.isfinite(scored["pair1_rifd"].astype(float)).all()

    # the kept rows are exactly what the pure selection gives on the scored rows
    replay = scored.copy()
    replay[[C.OUTCOME, C.REASON, C.DETAIL, C.STAGE]] = [C.OUTCOME_KEPT, "", "", ""]
    again = select_reflected(replay, cfg.selection).set_index(C.SAMPLE_ID)
    got = scored.set_index(C.SAMPLE_ID)
    assert again[C.OUTCOME].to_dict() == got[C.OUTCOME].to_dict()
    assert again[C.FINAL_OUTPUT].to_dict() == got[C.FINAL_OUTPUT].to_dict()

    # branch counts: the pie adds up to the scored samples, and both choices happened
    pie = outcome_counts(scored)
    assert sum(pie.values()) == len(scored)
    assert manifest["teacher"]["requests"] >= 2 * len(scored)
    assert (out / "recycled_alpaca.json").is_file() and (out / "report" / "report.html").is_file()
    exported = json.loads((out / "recycled_alpaca.json").read_text())
    assert len(exported) == counts["kept"]
    assert read_manifest(str(out))["outputs"]["report"].endswith("report.html")
    stats = manifest["stats"]
    assert stats["original"]["samples"] == 40 and stats["final"]["samples"] == counts["kept"]
    assert (
        0 < stats["original"]["ppl_y"] < float("inf") and -1 <= stats["original"]["coherence"] <= 1
    )
    assert "Table 6" in (out / "report" / "summary.md").read_text()

    # Table 6 from the run's own columns is what `recycle stats` computes on the same rows: the
    # input's, and the exported final data's
    assert_same_stats(stats["original"], run_stats(cfg))
    final = cfg.model_copy(deep=True)
    final.data.input, final.data.format = manifest["outputs"]["alpaca_json"], "json"
    assert_same_stats(stats["final"], run_stats(final))
    assert manifest["timings_s"]["stats"] < 5  # read from the run's columns, not scored again
