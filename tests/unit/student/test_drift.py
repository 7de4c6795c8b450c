"""Template drift: mostly IFD > 1 gets a warning naming the share and the template; else silence."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from recycle import columns as C
from recycle.report import write_report
from recycle.rundir import build_manifest, count_outcomes, write_manifest, write_outcome_batch
from recycle.student.drift import drift_warning, share_above_one


def test_share_skips_nan_and_none():
    assert share_above_one([0.5, 1.5, math.nan, None, 2.0, 1.0]) == (0.5, 4)
    assert math.isnan(share_above_one([math.nan])[0])


def test_warning_names_the_share_and_the_template():
    values = [1.2] * 87 + [0.8] * 13
    text = drift_warning(values, "chat")
    assert "87% of 100 IFD values are above 1" in text and "student.template='chat'" in text
    assert drift_warning([0.8] * 87 + [1.2] * 13, "vicuna") == ""
    assert drift_warning([1.5] * 10, "chat") == ""  # too few values to say anything


def run_dir(root: Path, ifd: np.ndarray, template: str) -> Path:
    rows = [
        {C.SAMPLE_ID: f"{i:020x}", C.OUTCOME: C.OUTCOME_KEPT, C.REASON: "",
         C.INSTRUCTION: f"Say {i}.", C.INPUT: "", C.OUTPUT: f"{i}.",
         C.scored(C.ORIG, C.IFD): float(v), C.FINAL_IFD: float(v)}
        for i, v in enumerate(ifd)
    ]  # fmt: skip
    write_outcome_batch(pa.Table.from_pylist(rows), str(root))
    config = {"output": {"dir": str(root)}, "student": {"model": "m", "template": template}}
    manifest = build_manifest("score", len(rows), count_outcomes(str(root)), config, {}, {})
    write_manifest(str(root), manifest)
    return root


@pytest.mark.parametrize(
    ("above", "template", "warned"), [(0.9, "chat", True), (0.1, "vicuna", False)]
)
def test_report_and_console_warn_on_drift_only(tmp_path, caplog, above, template, warned):
    rng = np.random.default_rng(0)
    n = 60
    ifd = np.where(
        np.arange(n) < int(above * n), rng.uniform(1.01, 1.6, n), rng.uniform(0.4, 0.99, n)
    )
    folder = run_dir(tmp_path / template, ifd, template)
    with caplog.at_level(logging.WARNING):
        html = Path(write_report(str(folder))).read_text()
    summary = (folder / "report" / "summary.md").read_text()
    expected = f"{int(above * n) / n:.0%} of {n} IFD values are above 1"
    for text in (html, summary, caplog.text):
        assert (expected in text) == warned
        assert ("template drift" in text) == warned
    if warned:
        assert "student.template=&#x27;chat&#x27;" in html or "student.template='chat'" in html
        assert "student.template='chat'" in summary
