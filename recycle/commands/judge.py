"""`recycle judge`: the papers' pairwise LLM judge of two answer files, both orders.

DIR/summary.json, DIR/pairs.parquet and DIR/report/ first (recycle.eval.judge_outputs), then
DIR/manifest.json: pairs = judged + not judged (by reason), what the judge cost, the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recycle.commands import needs
from recycle.commands.runner import Command, Run, execute
from recycle.config import RecycleConfig
from recycle.eval import judge_outputs
from recycle.eval.judge_stage import judge_config_as_teacher, judged_pairs, plan_requests
from recycle.eval.pairing import pair_answers
from recycle.eval.questions import read_answers
from recycle.eval.verdict import summarize
from recycle.preflight import Preflight, check_key
from recycle.teacher.serve import served_teacher


@dataclass
class Judging:
    """What `recycle judge`'s steps hand each other: the unique requests, each pair's two request
    keys and the two generators' names (read), then the judged pairs (written)."""

    requests: list[dict[str, str]] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)
    names: tuple[str, str] = ("A", "B")
    judged: list[dict[str, Any]] = field(default_factory=list)


def judge_command(cfg: RecycleConfig, answers_a: str, answers_b: str, out_dir: str) -> Command:
    """The command judging A's answers against B's into `out_dir` (counted in pairs)."""
    judge = judge_config_as_teacher(cfg.judge, judge_outputs.judge_cache_dir(cfg, out_dir))

    def read(run: Run) -> list[dict[str, Any]]:
        rows_a, rows_b = read_answers(answers_a), read_answers(answers_b)
        pairs = pair_answers(rows_a, rows_b)
        run.state.requests, run.state.keys = plan_requests(pairs, run.cfg.eval.judge_question)
        run.state.names = (judge_outputs.generator_name(rows_a, "A"),
                           judge_outputs.generator_name(rows_b, "B"))  # fmt: skip
        run.n_input = len(pairs)
        return pairs

    def write(run: Run, pairs: list[dict[str, Any]]) -> None:
        requests, names = run.state.requests, run.state.names
        with served_teacher(judge) as endpoint:
            reviews, session = judge_outputs.ask_judge(run.cfg, requests, endpoint)
        judged = judged_pairs(pairs, run.state.keys, reviews)
        summary = summarize(judged, run.cfg.eval.bootstrap_samples, run.cfg.eval.seed)
        run.state.judged, run.outputs = judged, dict(judge_outputs.OUTPUTS)
        run.extra["judge"] = judge_outputs.judge_section(summary, session.summary, len(requests))
        run.extra["verdict"] = judge_outputs.verdict_section(summary, names)
        judge_outputs.write_outputs(out_dir, judged, summary, run.extra["judge"], names)

    def check(_: RecycleConfig) -> None:
        if judge.serve is None:  # a judge served by the run itself has no key to check
            check_key("judge", judge)

    return Command("judge", read=read, write=write, check=check, unit="pairs", state=Judging,
                   counts=lambda run: judge_outputs.pair_counts(run.state.judged),
                   part_files=False, out_dir=out_dir, read_before_ray=True,
                   timings=("read_and_pair", "judge"), preflight=needs.judge(answers_a, answers_b, out_dir))  # fmt: skip


def run_judge(
    cfg: RecycleConfig,
    answers_a: str,
    answers_b: str,
    out_dir: str,
    preflight: bool | Preflight = True,
) -> dict[str, Any]:
    """Judge A's answers against B's into `out_dir`; returns the manifest (verdict included).

    Raises:
        InputError: answers that do not pair up, or pairs lost on the way (invariant broken).
        TeacherAuthError, TeacherEndpointError: the judge refuses the key or the model.
    """
    return execute(judge_command(cfg, answers_a, answers_b, out_dir), cfg, preflight)
