"""Table 6 statistics of the original and the final data of a run, for the manifest and report."""

from __future__ import annotations

import logging
from typing import Any

from recycle.config import RecycleConfig
from recycle.errors import ConfigError

log = logging.getLogger(__name__)
DROP_KEYS = ("dataset", "student", "template", "seconds")


def table6_stats(cfg: RecycleConfig, final_json: str, n_kept: int) -> dict[str, Any]:
    """{"original": row, "final": row} under the run's student; a reason where one cannot be made."""
    from recycle.student.coherence import load_embedder
    from recycle.student.stats import run_stats

    try:
        load_embedder(cfg.student.coherence_model)
    except ConfigError as err:
        log.warning("no Table 6 statistics: %s", err)
        return {"skipped": str(err)}
    out: dict[str, Any] = {"original": _row(run_stats(cfg))}
    if n_kept == 0:
        out["final"] = {"skipped": "no sample was kept"}
        return out
    final = cfg.model_copy(deep=True)
    final.data.input, final.data.format, final.data.limit = final_json, "json", None
    out["final"] = _row(run_stats(final))
    return out


def _row(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in DROP_KEYS}
