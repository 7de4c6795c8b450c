"""`recycle judge`: the papers' pairwise LLM judge of two answer files, both orders.

DIR/summary.json, DIR/pairs.parquet and DIR/report/ first (recycle.eval.judge_outputs), then
DIR/manifest.json: pairs = judged + not judged (by reason), what the judge cost, the verdict.
"""

from __future__ import annotations

import time
from typing import Any

from recycle.commands.runner import Run, close, start
from recycle.config import RecycleConfig
from recycle.eval import judge_outputs as J
from recycle.eval.judge_stage import judge_config_as_teacher, judged_pairs, plan_requests
from recycle.eval.pairing import pair_answers
from recycle.eval.questions import read_answers
from recycle.eval.verdict import summarize
from recycle.teacher.serve import served_teacher


def run_judge(cfg: RecycleConfig, answers_a: str, answers_b: str, out_dir: str) -> dict[str, Any]:
    """Judge A's answers against B's into `out_dir`; returns the manifest (verdict included).

    Raises:
        InputError: answers that do not pair up, or pairs lost on the way (invariant broken).
        TeacherAuthError, TeacherEndpointError: the judge refuses the key or the model.
    """
    run = Run(cfg, out_dir=out_dir, part_files=False, lost="pairs")
    t0 = time.perf_counter()
    rows_a, rows_b = read_answers(answers_a), read_answers(answers_b)
    pairs = pair_answers(rows_a, rows_b)
    requests, keys = plan_requests(pairs, cfg.eval.judge_question)
    names = (J.generator_name(rows_a, "A"), J.generator_name(rows_b, "B"))
    judge = judge_config_as_teacher(cfg.judge, J.judge_cache_dir(cfg, out_dir))
    start(cfg, None if judge.serve is not None else lambda _: J.check_judge_key(judge))
    run.timings["read_and_pair"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    with served_teacher(judge) as endpoint:
        reviews, session = J.ask_judge(cfg, requests, endpoint)
    run.timings["judge"] = time.perf_counter() - t1
    judged = judged_pairs(pairs, keys, reviews)
    summary = summarize(judged, cfg.eval.bootstrap_samples, cfg.eval.seed)
    run.n_input, run.outputs = len(judged), dict(J.OUTPUTS)
    run.extra["judge"] = J.judge_section(summary, session.summary, len(requests))
    run.extra["verdict"] = J.verdict_section(summary, names)
    J.write_outputs(out_dir, judged, summary, run.extra["judge"], names)
    return close("judge", run, J.pair_counts(judged))
