"""The judge's request planning and its async core, without Ray: dedup, reviews, rejects."""

from __future__ import annotations

import asyncio

import pytest

from recycle.config.teacher import TeacherConfig
from recycle.eval.judge_stage import Judge, judged_pairs, plan_requests, review_tokens
from recycle.eval.pairwise_rule import render_judge
from recycle.teacher.client import TeacherClient
from recycle.teacher.errors import SampleRejected
from recycle.teacher.gate import GateSettings, LocalGate
from recycle.testing.local_answers import ReplayAnswers, judge_review
from recycle.testing.local_server import LocalTeacherServer


def _pair(instruction, a, b, input_=""):
    return {"dataset": "s", "instruction": instruction, "input": input_, "occurrence": 0,
            "answer_a": a, "answer_b": b}  # fmt: skip


def test_plan_deduplicates_prompts_across_orders_and_pairs():
    pairs = [_pair("q1", "x", "y"), _pair("q2", "same", "same"), _pair("q1", "x", "y")]
    requests, keys = plan_requests(pairs, "instruction")
    assert len(requests) == 3  # q1 both orders, q2 once (identical answers), the repeat of q1 free
    assert keys[0] == keys[2] and keys[1][0] == keys[1][1] and keys[0][0] != keys[0][1]
    with_input, _ = plan_requests([_pair("q", "x", "y", "in")], "instruction_and_input")
    assert with_input[0]["question"] == "q\nin"


def test_judged_pairs_keep_a_pair_without_review_with_its_reason():
    pairs = [_pair("q1", "x", "y"), _pair("q2", "u", "v")]
    _, keys = plan_requests(pairs, "instruction")
    reviews = {
        keys[0][0]: {"review": "8 6\nok", "judge_error": ""},
        keys[0][1]: {"review": "5 9\nok", "judge_error": ""},
        keys[1][0]: {"review": "7 7\nok", "judge_error": ""},
        keys[1][1]: {"review": None, "judge_error": "teacher_unavailable: gave up"},
    }
    out = judged_pairs(pairs, keys, reviews)
    assert out[0]["outcome"] == "win" and out[0]["scores_reverse"] == [5.0, 9.0]
    assert out[1]["outcome"] is None and out[1]["judge_error"].startswith("teacher_unavailable")
    assert out[1]["scores_forward"] == [7.0, 7.0] and out[1]["scores_reverse"] is None


@pytest.mark.integration  # the local teacher server
def test_judge_core_reviews_through_the_teacher_client():
    prompt = render_judge("Q?", "a b c d e f g h i", "a")
    replay = ReplayAnswers([(prompt.messages[-1]["content"], "9 2\nrecorded")])
    cfg = TeacherConfig(model="local", api_key_env="RECYCLE_TEST_NO_KEY", max_tokens=64)

    async def go(base_url):
        client = TeacherClient(
            cfg.model_copy(update={"base_url": base_url}), LocalGate(GateSettings()), None
        )
        judge = Judge(client, cfg)
        known = await judge.review(
            {"question": "Q?", "answer_1": "a b c d e f g h i", "answer_2": "a"}
        )
        unknown = await judge.review({"question": "Z?", "answer_1": "x", "answer_2": "y"})
        await client.aclose()
        return known, unknown

    with LocalTeacherServer(answer=replay) as server:
        known, unknown = asyncio.run(go(server.base_url))
    assert known == {"review": "9 2\nrecorded", "judge_error": ""}
    assert unknown == {"review": "no recorded answer", "judge_error": ""}  # kept; counts as -1 -1
    # the review's room shrinks to fit the context window (the authors' min(1024, 4070 - prompt))
    room = review_tokens(TeacherConfig(max_tokens=990, context_window=1000), prompt)
    assert 0 < room < 990
    with pytest.raises(SampleRejected, match="judge_prompt_too_long"):
        review_tokens(TeacherConfig(max_tokens=290, context_window=300), prompt)


def test_scripted_review_scores_by_distinct_words():
    user = render_judge("Q?", " ".join(f"w{i}" for i in range(16)), "w").messages[-1]["content"]
    assert judge_review(user).split("\n")[0] == "3 1"
