"""`recycle stats`'s counts: input rows = scored + dropped + rejected per reason; no Ray."""

from __future__ import annotations

import pandas as pd

from recycle import columns as C
from recycle.commands.stats import manifest_path
from recycle.student.stats import outcome_counts


def _frame() -> pd.DataFrame:
    outcomes = [C.OUTCOME_KEPT] * 3 + [C.OUTCOME_REJECTED] * 2 + [C.OUTCOME_DROPPED]
    reasons = ["", "", "", "empty", "empty", "too_long"]
    return pd.DataFrame({C.OUTCOME: outcomes, C.REASON: reasons})


def test_outcome_counts_per_reason():
    counts = outcome_counts(_frame(), n_input=6)
    assert counts == {"input": 6, "kept": 3, "dropped": {"too_long": 1}, "rejected": {"empty": 2}}


def test_the_manifest_goes_beside_the_row_never_into_a_run_directory():
    assert manifest_path("/runs/a/row.json") == "/runs/a/row.manifest.json"
    assert manifest_path(None) == ""  # no output: checked by the runner, not written
