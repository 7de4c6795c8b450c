"""The steps of `recycle judge` (recycle.commands.judge): pair two answer files, judge both orders.

DIR/summary.json   {"sets": {name: {win, tie, lose, n, win_rate, ...}}, "total": {...}}, A's view
DIR/pairs.parquet  every pair: both answers, both reviews, both score pairs, outcome, judge_error
DIR/manifest.json  pairs = judged + not judged (by reason), judge requests, tokens, cost
DIR/report/        summary.md, win_tie_lose.png (the papers' stacked bars) and
                   outcome_vs_length.png (each outcome against the length difference)
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recycle.config import RecycleConfig
from recycle.config.teacher import TeacherConfig
from recycle.eval import columns as E
from recycle.eval.judge_stage import (
    judge_requests,
)
from recycle.eval.report import (
    FIGURE,
    LENGTH_FIGURE,
    SUMMARY_MD,
    length_plot,
    length_warning_lines,
    stacked_bars,
    summary_markdown,
)
from recycle.storage import filesystem
from recycle.teacher.session import TeacherSession, gate_session

log = logging.getLogger(__name__)

SUMMARY = "summary.json"
PAIRS = "pairs.parquet"
REPORT_DIR = "report"


def judge_cache_dir(cfg: RecycleConfig, out_dir: str) -> str | None:
    """judge.cache_dir, else DIR/judge_cache; None when the cache is off."""
    if not cfg.judge.cache:
        return None
    return cfg.judge.cache_dir or posixpath.join(out_dir.rstrip("/"), "judge_cache")


def generator_name(rows: list[dict[str, Any]], fallback: str) -> str:
    """The `generator` the answers name (the first one), else a fallback (A / B)."""
    names = [r[E.GENERATOR] for r in rows if r.get(E.GENERATOR)]
    return names[0] if names else fallback


def ask_judge(
    cfg: RecycleConfig, requests: list[dict[str, str]], endpoint: TeacherConfig
) -> tuple[dict[str, dict[str, str | None]], TeacherSession]:
    """Reviews of the requests under the job's gate (the teacher's session, for the judge)."""
    with gate_session(cfg.model_copy(update={"teacher": endpoint}), endpoint) as session:
        reviews = judge_requests(requests, endpoint, session.gate_name, session.cache_dir)
    return reviews, session


def pair_counts(judged: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest's counts: pairs judged (kept), and not judged by reason (rejected)."""
    not_judged = Counter(p[E.JUDGE_ERROR].split(":")[0] for p in judged if p[E.OUTCOME] is None)
    return {
        "kept": len(judged) - sum(not_judged.values()),
        "dropped": {},
        "rejected": dict(not_judged),
    }


def judge_section(
    summary: dict[str, Any], judge_totals: dict[str, Any], n_requests: int
) -> dict[str, Any]:
    """The manifest's "judge": what the judge cost, its unique prompts and unparseable reviews."""
    return {
        **judge_totals,
        "unique_prompts": n_requests,
        "unparseable_reviews": summary["total"]["unparseable_reviews"],
    }


VERDICT_KEYS = (
    "win",
    "tie",
    "lose",
    "n",
    "win_rate",
    "win_rate_ci95",
    "win_rate_lc",
    "win_rate_lc_ci95",
    "share_a_not_longer",
    "length_warnings",
)


def verdict_section(summary: dict[str, Any], names: tuple[str, str]) -> dict[str, Any]:
    """The manifest's "verdict": A's wins, ties and losses against B, win rate and its CI."""
    total = summary["total"]
    return {
        "model_a": names[0],
        "model_b": names[1],
        **{k: total[k] for k in VERDICT_KEYS},
        "not_judged": total["not_judged"],
    }


OUTPUTS = {"summary": SUMMARY, "pairs": PAIRS, "report": f"{REPORT_DIR}/{SUMMARY_MD}"}


def write_outputs(
    out_dir: str,
    judged: list[dict[str, Any]],
    summary: dict[str, Any],
    judge: dict[str, Any],
    names: tuple[str, str],
) -> None:
    """summary.json, pairs.parquet and the report (the manifest comes last: it says they are there)."""
    fs, path = filesystem(out_dir)
    fs.create_dir(posixpath.join(path, REPORT_DIR), recursive=True)
    _write(fs, posixpath.join(path, SUMMARY), json.dumps(summary, indent=2).encode("utf-8"))
    table = pa.Table.from_pylist(judged, schema=_pairs_schema())
    with fs.open_output_stream(posixpath.join(path, PAIRS)) as f:
        pq.write_table(table, f)
    for name, warning in length_warning_lines(summary):
        log.warning("length-controlled win rate (%s): %s", name, warning)
    md = summary_markdown(summary, judge, *names)
    _write(fs, posixpath.join(path, REPORT_DIR, SUMMARY_MD), md.encode("utf-8"))
    _write(fs, posixpath.join(path, REPORT_DIR, FIGURE), stacked_bars(summary, *names))
    done = [p for p in judged if p[E.OUTCOME] is not None]
    lengths = [[len(p[side]) for p in done] for side in (E.ANSWER_A, E.ANSWER_B)]
    figure = length_plot([p[E.OUTCOME] for p in done], *lengths, *names)
    _write(fs, posixpath.join(path, REPORT_DIR, LENGTH_FIGURE), figure)


def _write(fs: Any, path: str, data: bytes) -> None:
    with fs.open_output_stream(path) as f:
        f.write(data)


def _pairs_schema() -> pa.Schema:
    scores = pa.list_(pa.float64())
    types = {E.OCCURRENCE: pa.int64(), E.SCORES_FORWARD: scores, E.SCORES_REVERSE: scores}
    return pa.schema([(c, types.get(c, pa.string())) for c in E.PAIR_COLUMNS])
