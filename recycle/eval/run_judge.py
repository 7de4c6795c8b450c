"""`recycle judge` as a library call: pair two answer files, judge both orders, write the verdict.

DIR/summary.json   {"sets": {name: {win, tie, lose, n, win_rate, ...}}, "total": {...}}, A's view
DIR/pairs.parquet  every pair: both answers, both reviews, both score pairs, outcome, judge_error
DIR/manifest.json  pairs = judged + not judged (by reason), judge requests, tokens, cost
DIR/report/        summary.md and win_tie_lose.png (the papers' stacked bars)
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import time
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recycle.config import RecycleConfig, redacted
from recycle.config.teacher import TeacherConfig
from recycle.errors import InputError
from recycle.eval import columns as E
from recycle.eval.judging import (
    judge_config_as_teacher,
    judge_requests,
    judged_pairs,
    plan_requests,
)
from recycle.eval.pairing import pair_answers
from recycle.eval.questions import read_answers
from recycle.eval.report import FIGURE, SUMMARY_MD, stacked_bars, summary_markdown
from recycle.eval.verdict import summarize
from recycle.ray_utils import init_ray
from recycle.rundir import build_manifest, write_manifest
from recycle.storage import filesystem
from recycle.teacher.client import is_openai
from recycle.teacher.errors import TeacherAuthError
from recycle.teacher.serve import served_teacher
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


def check_judge_key(judge: TeacherConfig) -> None:
    """Fail before anything runs when the judge is OpenAI and its key variable is not set.

    Raises:
        TeacherAuthError: naming judge.api_key_env.
    """
    if is_openai(judge.base_url) and not os.environ.get(judge.api_key_env):
        raise TeacherAuthError(
            f"the judge is OpenAI ({judge.model}) but the environment variable {judge.api_key_env} is "
            "not set; export it, or point judge.base_url at another server (judge.api_key_env names "
            "another variable)"
        )


def generator_name(rows: list[dict[str, Any]], fallback: str) -> str:
    """The `generator` the answers name (the first one), else a fallback (A / B)."""
    names = [r[E.GENERATOR] for r in rows if r.get(E.GENERATOR)]
    return names[0] if names else fallback


def run_judge(cfg: RecycleConfig, answers_a: str, answers_b: str, out_dir: str) -> dict[str, Any]:
    """Judge A's answers against B's into `out_dir`; returns the manifest (verdict included).

    Raises:
        InputError: answers that do not pair up, or pairs lost on the way (invariant broken).
        TeacherAuthError, TeacherEndpointError: the judge refuses the key or the model.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    rows_a, rows_b = read_answers(answers_a), read_answers(answers_b)
    pairs = pair_answers(rows_a, rows_b)
    requests, keys = plan_requests(pairs, cfg.eval.judge_question)
    names = (generator_name(rows_a, "A"), generator_name(rows_b, "B"))
    judge = judge_config_as_teacher(cfg.judge, judge_cache_dir(cfg, out_dir))
    if judge.serve is None:
        check_judge_key(judge)
    init_ray(cfg.ray)
    timings["read_and_pair"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    with served_teacher(judge) as endpoint:
        reviews, session = _ask(cfg, requests, endpoint)
    timings["judge"] = time.perf_counter() - t1
    judged = judged_pairs(pairs, keys, reviews)
    summary = summarize(judged, cfg.eval.bootstrap_samples, cfg.eval.seed)
    manifest = _manifest(cfg, judged, summary, session.summary, names, len(requests), timings)
    write_outputs(out_dir, judged, summary, manifest, names)
    if not manifest["invariant"]["ok"]:
        raise InputError(f"pairs were lost: {manifest['invariant']}; see {out_dir}")
    return manifest


def _ask(
    cfg: RecycleConfig, requests: list[dict[str, str]], endpoint: TeacherConfig
) -> tuple[dict[str, dict[str, str | None]], TeacherSession]:
    """Reviews of the requests under the job's gate (the teacher's session, for the judge)."""
    with gate_session(cfg.model_copy(update={"teacher": endpoint}), endpoint) as session:
        reviews = judge_requests(requests, endpoint, session.gate_name, session.cache_dir)
    return reviews, session


def _manifest(
    cfg: RecycleConfig,
    judged: list[dict[str, Any]],
    summary: dict[str, Any],
    judge_totals: dict[str, Any],
    names: tuple[str, str],
    n_requests: int,
    timings: dict[str, float],
) -> dict[str, Any]:
    not_judged = Counter(p[E.JUDGE_ERROR].split(":")[0] for p in judged if p[E.OUTCOME] is None)
    counts = {
        "kept": len(judged) - sum(not_judged.values()),
        "dropped": {},
        "rejected": dict(not_judged),
    }
    total = summary["total"]
    judge = {
        **judge_totals,
        "unique_prompts": n_requests,
        "unparseable_reviews": total["unparseable_reviews"],
    }
    verdict = {
        "model_a": names[0],
        "model_b": names[1],
        **{k: total[k] for k in ("win", "tie", "lose", "n", "win_rate", "win_rate_ci95")},
        "not_judged": total["not_judged"],
    }
    manifest = build_manifest("judge", len(judged), counts, redacted(cfg), timings)
    manifest["outputs"] = {
        "summary": SUMMARY,
        "pairs": PAIRS,
        "report": f"{REPORT_DIR}/{SUMMARY_MD}",
    }
    return {**manifest, "judge": judge, "verdict": verdict}


def write_outputs(
    out_dir: str,
    judged: list[dict[str, Any]],
    summary: dict[str, Any],
    manifest: dict[str, Any],
    names: tuple[str, str],
) -> None:
    """summary.json, pairs.parquet, the report and the manifest (last: it says the rest is there)."""
    fs, path = filesystem(out_dir)
    fs.create_dir(posixpath.join(path, REPORT_DIR), recursive=True)
    _write(fs, posixpath.join(path, SUMMARY), json.dumps(summary, indent=2).encode("utf-8"))
    table = pa.Table.from_pylist(judged, schema=_pairs_schema())
    with fs.open_output_stream(posixpath.join(path, PAIRS)) as f:
        pq.write_table(table, f)
    md = summary_markdown(summary, manifest["judge"], *names)
    _write(fs, posixpath.join(path, REPORT_DIR, SUMMARY_MD), md.encode("utf-8"))
    _write(fs, posixpath.join(path, REPORT_DIR, FIGURE), stacked_bars(summary, *names))
    write_manifest(out_dir, manifest)


def _write(fs: Any, path: str, data: bytes) -> None:
    with fs.open_output_stream(path) as f:
        f.write(data)


def _pairs_schema() -> pa.Schema:
    scores = pa.list_(pa.float64())
    types = {E.OCCURRENCE: pa.int64(), E.SCORES_FORWARD: scores, E.SCORES_REVERSE: scores}
    return pa.schema([(c, types.get(c, pa.string())) for c in E.PAIR_COLUMNS])
