"""Table 6 statistics and Sentence-BERT coherence."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recycle import columns as C
from recycle.errors import ConfigError
from recycle.student.coherence import DEFAULT_MODEL, CoherenceScorer, resolve_embedding_model
from recycle.student.stats import format_row, table6_row


def test_table6_row_means_over_finite_values():
    df = pd.DataFrame(
        {
            C.X_TOKENS: [10, 20, 0],
            C.Y_TOKENS: [100, 50, 0],
            C.LOSS_X: [math.log(4.0), math.log(8.0), math.nan],
            C.LOSS_Y: [math.log(2.0), math.log(4.0), math.nan],
            C.LOSS_Y_GIVEN_X: [0.0, math.log(3.0), math.nan],
            C.COHERENCE: [0.5, 0.7, math.nan],
            C.IFD: [0.5, 0.75, math.nan],
            C.RIFD: [1.0, 2.0, math.nan],
            C.SCORE_ERROR: ["", "", "ifd: empty_target: the target has no tokens"],
        }
    )
    row = table6_row(df)
    assert row == pytest.approx(
        {
            "samples": 3, "unscored": 1, "instruction_tokens": 15.0, "response_tokens": 75.0,
            "ppl_x": 6.0, "ppl_y": 3.0, "ppl_y_given_x": 2.0, "coherence": 0.6, "ifd": 0.625, "rifd": 1.5,
        }
    )  # fmt: skip
    assert format_row("alpaca", row).splitlines()[2].startswith("| alpaca | 15.0 | 75.0 | 6.0000 |")


def test_default_embedding_model_resolves_to_the_packaged_copy():
    path = Path(resolve_embedding_model(DEFAULT_MODEL))
    assert (path / "modules.json").is_file()
    assert resolve_embedding_model("some/other-model") == "some/other-model"


def test_coherence_scorer_adds_a_column_per_pair():
    scorer = CoherenceScorer(DEFAULT_MODEL, [("orig_", C.INSTRUCTION, C.INPUT, C.OUTPUT)])
    batch = pd.DataFrame(
        {
            C.INSTRUCTION: ["What is the capital of France?", "Name a fruit.", "Say hi."],
            C.INPUT: ["", "", ""],
            C.OUTPUT: ["Paris is the capital of France.", "The stock market fell today.", ""],
        }
    )
    out = scorer(batch)
    values = out["orig_coherence"].to_numpy()
    assert values[0] > 0.6 > 0.2 > values[1] and np.isnan(values[2])


def test_unloadable_embedding_model_is_a_config_error(tmp_path):
    (tmp_path / "empty").mkdir()  # a folder without any model file
    with pytest.raises(ConfigError, match="coherence_model"):
        CoherenceScorer(str(tmp_path / "empty"), [])
