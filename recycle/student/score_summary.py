"""What `recycle score` (recycle.commands.score) runs: the input scored, and its scores summarized.

The run directory contract (recycle/rundir.py) holds: kept/ (valid samples, with
loss_y_given_x, loss_y, loss_x_given_y, loss_x, ifd, rifd, y_tokens, x_tokens, score_error,
score_truncated), rejects/ (rows that failed validation, with their reason) and manifest.json,
whose "scores" section summarises the scores (means, how many could not be scored and why).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from recycle import columns as C
from recycle.config import RecycleConfig
from recycle.data.read import read_samples
from recycle.rundir import read_outcome
from recycle.student.scoring import error_reasons
from recycle.student.scoring_actor import score_dataset
from recycle.student.variants import Variant

# `recycle score` writes the bare column names: ifd, rifd, loss_y_given_x, ...
SCORE_VARIANTS = (Variant(prefix="", ifd=True, rifd=True),)
STAGE = "score"


def scored_dataset(
    cfg: RecycleConfig, variants: tuple[Variant, ...] = SCORE_VARIANTS
) -> tuple[Any, int]:
    """The input read, normalized and scored (rejected rows pass through), and the input row count.

    Raises:
        InputError: the input holds no rows.
    """
    ds, n_input = read_samples(cfg.data)
    return score_dataset(ds, cfg.student, variants, stage=STAGE), n_input


def score_summary(run_dir: str) -> dict[str, Any]:
    """Means of the scores over kept rows, how many rows could not be scored, and the reasons."""
    cols = [
        C.IFD,
        C.RIFD,
        C.LOSS_Y_GIVEN_X,
        C.LOSS_Y,
        C.LOSS_X_GIVEN_Y,
        C.LOSS_X,
        C.SCORE_ERROR,
        C.SCORE_TRUNCATED,
    ]
    table = read_outcome(run_dir, C.OUTCOME_KEPT, columns=cols)
    if table is None:
        return {"rows": 0}
    data = table.to_pydict()
    errors = [e for e in data[C.SCORE_ERROR] if e]
    reasons = Counter(r for e in errors for r in error_reasons(e))
    out: dict[str, Any] = {
        "rows": table.num_rows,
        "unscored_rows": len(errors),
        "unscored_reasons": dict(reasons),
    }
    out["truncated_rows"] = sum(bool(t) for t in data[C.SCORE_TRUNCATED])
    for col in cols[:6]:
        finite = [v for v in data[col] if v is not None and math.isfinite(v)]
        out[f"mean_{col}"] = sum(finite) / len(finite) if finite else math.nan
    return out
