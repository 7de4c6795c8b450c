"""Asking the judge: unique requests in, reviews out, on the teacher's async actor pool.

Every pair needs two reviews (A as Assistant 1, then B). The prompts of all pairs and both
orders are deduplicated first (`plan_requests`): when A and B answer alike, or a set repeats a
question with the same answers, the two orders or items send the same prompt, and a cached judge
asks it once. Each unique request goes through `TeacherClient` (cache, gate, retries, accounting),
as a teacher prompt does; a request the judge cannot answer (retries exhausted, 400, budget) comes
back with its reason instead of a review, so its pairs are reported, never lost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import ray

from recycle import columns as C
from recycle.config.eval import JudgeConfig
from recycle.config.teacher import TeacherConfig
from recycle.eval import columns as E
from recycle.eval.pairwise_rule import (
    is_parsed,
    judge_question,
    outcome,
    parse_scores,
    render_judge,
)
from recycle.prompts import ChatPrompt
from recycle.teacher import errors as TE
from recycle.teacher.cache import AnswerCache
from recycle.teacher.client import TeacherClient, estimate_tokens
from recycle.teacher.core import gather_or_cancel
from recycle.teacher.gate import GateSettings, LocalGate, RayGate
from recycle.teacher.stages import map_teacher_pool

STAGE = "judge"
PROMPT_TOO_LONG = "judge_prompt_too_long"
UNPARSEABLE_RETRIES = "judge_parse_retries"


def request_key(question: str, answer_1: str, answer_2: str) -> str:
    """Identity of one judge prompt (the question and the answers in their order)."""
    blob = json.dumps([question, answer_1, answer_2], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def plan_requests(
    pairs: Sequence[dict[str, Any]], question_mode: str
) -> tuple[list[dict[str, str]], list[tuple[str, str]]]:
    """The unique judge requests of all pairs, and (forward key, reverse key) of each pair."""
    requests: dict[str, dict[str, str]] = {}
    keys = []
    for p in pairs:
        q = judge_question(p[E.INSTRUCTION], p[E.INPUT], question_mode)
        both = []
        for a1, a2 in ((p[E.ANSWER_A], p[E.ANSWER_B]), (p[E.ANSWER_B], p[E.ANSWER_A])):
            key = request_key(q, a1, a2)
            requests.setdefault(
                key, {E.REQUEST_KEY: key, E.QUESTION: q, E.ANSWER_1: a1, E.ANSWER_2: a2}
            )
            both.append(key)
        keys.append((both[0], both[1]))
    return list(requests.values()), keys


def review_tokens(cfg: TeacherConfig, prompt: ChatPrompt) -> int:
    """Room for the review: max_tokens, lowered to fit the context window (as the authors did).

    Raises:
        SampleRejected: the prompt alone fills the context window.
    """
    if cfg.context_window is None:
        return cfg.max_tokens
    room = cfg.context_window - estimate_tokens(prompt.messages, cfg.chars_per_token)
    if room < 1:
        raise TE.SampleRejected(
            PROMPT_TOO_LONG, f"the judge prompt fills judge.context_window={cfg.context_window}"
        )
    return min(cfg.max_tokens, room)


class Judge:
    """Reviews of judge requests through a TeacherClient; the pure async core of the stage."""

    def __init__(self, client: TeacherClient, cfg: TeacherConfig):
        self.client = client
        self.cfg = cfg

    async def review(self, request: dict[str, str]) -> dict[str, str | None]:
        """{review, judge_error} of one request; an unparseable review is re-asked at most
        `max_parse_retries` times, then kept (it counts as (-1, -1))."""
        prompt = render_judge(request[E.QUESTION], request[E.ANSWER_1], request[E.ANSWER_2])
        try:
            max_tokens = review_tokens(self.cfg, prompt)
            for attempt in range(self.cfg.max_parse_retries + 1):
                answer = await self.client.complete(prompt, max_tokens, attempt)
                if is_parsed(parse_scores(answer.text)):
                    break
                self.client.gate.settle({UNPARSEABLE_RETRIES: 1}, 0.0, 0.0)
            return {E.REVIEW: answer.text, E.JUDGE_ERROR: ""}
        except TE.SampleRejected as rej:
            return {E.REVIEW: None, E.JUDGE_ERROR: f"{rej.reason}: {rej.detail}"}

    async def review_table(self, batch: pa.Table) -> pa.Table:
        """Add `review` and `judge_error` to a batch of requests."""
        C.require_columns(STAGE, batch.column_names, E.REQUEST_COLUMNS)
        rows = batch.select(list(E.REQUEST_COLUMNS)).to_pylist()
        results = await gather_or_cancel([self.review(r) for r in rows])
        for name in (E.REVIEW, E.JUDGE_ERROR):
            batch = batch.append_column(name, pa.array([r[name] for r in results], pa.string()))
        return batch


class JudgeReviews:
    """Ray Data adapter: one TeacherClient per actor (the teacher's machinery), many requests in flight.

    Args:
        judge: the judge config (a TeacherConfig or its dict).
        gate_name: name of the job's gate actor; None keeps the gate in this actor.
        cache_dir: review cache folder; None disables it.
    """

    def __init__(self, judge: dict[str, Any], gate_name: str | None, cache_dir: str | None):
        cfg = TeacherConfig.model_validate(judge)
        settings = GateSettings.from_config(cfg)
        gate = RayGate(gate_name, settings) if gate_name else LocalGate(settings)
        cache = AnswerCache(cache_dir) if cache_dir and cfg.cache else None
        self.client = TeacherClient(cfg, gate, cache)
        self.judge = Judge(self.client, cfg)

    async def __call__(self, batch: pa.Table) -> pa.Table:
        try:
            return await self.judge.review_table(batch)
        except TE.JOB_STOPPING as err:  # an outage past judge.max_outage_s too: exit 4
            await self.client.gate.record_fatal(type(err).__name__, str(err))
            raise
        finally:
            await self.client.gate.flush()


def judge_requests(
    requests: list[dict[str, str]], cfg: TeacherConfig, gate_name: str, cache_dir: str | None
) -> dict[str, dict[str, str | None]]:
    """Reviews of every request, by request key, from a Ray Data actor pool."""
    if not requests:
        return {}
    ds = ray.data.from_items(requests)
    ds = map_teacher_pool(
        ds, JudgeReviews, cfg, {"gate_name": gate_name, "cache_dir": cache_dir}, "judge"
    )
    return {
        r[E.REQUEST_KEY]: {E.REVIEW: r[E.REVIEW], E.JUDGE_ERROR: r[E.JUDGE_ERROR]}
        for r in ds.take_all()
    }


def judged_pairs(
    pairs: Sequence[dict[str, Any]],
    keys: Sequence[tuple[str, str]],
    reviews: dict[str, dict[str, str | None]],
) -> list[dict[str, Any]]:
    """Pairs with both reviews, both score pairs and A's outcome (null with the reason when a
    review is missing)."""
    out = []
    for pair, (fwd, rev) in zip(pairs, keys, strict=True):
        rf, rr = reviews[fwd], reviews[rev]
        errors = [r[E.JUDGE_ERROR] for r in (rf, rr) if r[E.JUDGE_ERROR]]
        sf = list(parse_scores(rf[E.REVIEW])) if rf[E.REVIEW] is not None else None
        sr = list(parse_scores(rr[E.REVIEW])) if rr[E.REVIEW] is not None else None
        out.append(
            {
                **pair,
                E.REVIEW_FORWARD: rf[E.REVIEW],
                E.REVIEW_REVERSE: rr[E.REVIEW],
                E.SCORES_FORWARD: sf,
                E.SCORES_REVERSE: sr,
                E.OUTCOME: None if errors else outcome(sf, sr),
                E.JUDGE_ERROR: "; ".join(errors),
            }
        )
    return out


def judge_config_as_teacher(cfg: JudgeConfig, cache_dir: str | None) -> TeacherConfig:
    """The judge section as a TeacherConfig (same keys), with its cache folder resolved."""
    data = cfg.model_dump()
    data["cache_dir"] = cache_dir
    return TeacherConfig.model_validate(data)
