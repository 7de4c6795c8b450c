"""`recycle stats`'s manifest: input rows = scored + dropped + rejected, checked; no Ray."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recycle import columns as C
from recycle.commands.stats import write_stats_manifest
from recycle.config import RecycleConfig
from recycle.errors import InputError
from recycle.student.stats import outcome_counts


def _frame() -> pd.DataFrame:
    outcomes = [C.OUTCOME_KEPT] * 3 + [C.OUTCOME_REJECTED] * 2 + [C.OUTCOME_DROPPED]
    reasons = ["", "", "", "empty", "empty", "too_long"]
    return pd.DataFrame({C.OUTCOME: outcomes, C.REASON: reasons})


def test_outcome_counts_per_reason():
    counts = outcome_counts(_frame(), n_input=6)
    assert counts == {"input": 6, "kept": 3, "dropped": {"too_long": 1}, "rejected": {"empty": 2}}


def test_stats_manifest_adds_up_beside_the_row(tmp_path):
    cfg = RecycleConfig()
    out = tmp_path / "row.json"
    result = {"counts": outcome_counts(_frame(), n_input=6), "seconds": 1.5}
    uri = write_stats_manifest(cfg, result, out)
    manifest = json.loads((tmp_path / "row.manifest.json").read_text())
    assert uri.endswith("row.manifest.json") and manifest["command"] == "stats"
    assert manifest["invariant"] == {"ok": True, "input": 6, "accounted": 6}
    assert manifest["outputs"] == {"stats": "row.json"}


def test_stats_manifest_that_does_not_add_up_raises(tmp_path):
    result = {"counts": outcome_counts(_frame(), n_input=7), "seconds": 1.0}
    with pytest.raises(InputError, match="rows were lost"):
        write_stats_manifest(RecycleConfig(), result, tmp_path / "row.json")
