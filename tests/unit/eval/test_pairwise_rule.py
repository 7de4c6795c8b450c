"""The judge's pure core: the authors' score parse and outcome rule, and the win rate."""

from __future__ import annotations

import itertools

import pytest

from recycle.eval.pairwise_rule import (
    UNPARSEABLE,
    judge_question,
    outcome,
    parse_scores,
    render_judge,
    win_rate,
)
from tests.support.judge_reviews import authors_counts


@pytest.mark.parametrize(
    ("review", "scores"),
    [
        ("8 9\nBecause...", (8.0, 9.0)),
        ("9 8.5\n\nBoth...", (9.0, 8.5)),
        ("7,8\nx", (7.0, 8.0)),  # commas become spaces
        ("10 1", (10.0, 1.0)),
        ("8, 9\nx", UNPARSEABLE),  # "8  9": split on single spaces gives three parts
        ("8 9 \nx", UNPARSEABLE),  # trailing space: three parts
        ("8/10 9/10\nx", UNPARSEABLE),
        ("Assistant 1: 8\nAssistant 2: 9", UNPARSEABLE),
        ("\n8 9", UNPARSEABLE),  # only the first line counts
        ("nan 3", UNPARSEABLE),
        ("", UNPARSEABLE),
    ],
)
def test_parse_scores_follows_the_authors(review, scores):
    assert parse_scores(review) == scores


def test_outcome_matches_the_authors_rule_on_every_case():
    values = [1.0, 2.0, 3.0, -1.0]
    for s0, s1, r0, r1 in itertools.product(values, repeat=4):
        counts = authors_counts([([s0, s1], [r0, r1])])  # [win, tie, lose], one of them 1
        assert outcome((s0, s1), (r0, r1)) == ("win", "tie", "lose")[counts.index(1)]


def test_outcome_cases_from_a_side():
    assert outcome((8, 6), (6, 8)) == "win"  # A better in both orders (reverse: r[1] > r[0])
    assert outcome((8, 8), (6, 8)) == "win"  # one ">" and one "="
    assert outcome((8, 6), (8, 6)) == "tie"  # Assistant 1 always wins: position bias
    assert outcome((6, 8), (8, 6)) == "lose"
    assert outcome(UNPARSEABLE, (6, 8)) == "win"  # an unparseable order counts as "="
    assert outcome(UNPARSEABLE, UNPARSEABLE) == "tie"


def test_win_rate():
    assert win_rate(507, 298, 1030) == pytest.approx(1.2029, abs=1e-4)
    assert win_rate(0, 0, 5) == 1.0
    assert win_rate(3, 0, 3) == 2.0


def test_prompt_puts_answer_1_first_and_question_modes():
    p = render_judge("Q?", "first answer", "second answer")
    user = p.messages[-1]["content"]
    assert p.messages[0]["role"] == "system"
    assert user.index("first answer") < user.index("second answer")
    assert user.startswith("[Question]\nQ?\n\n[The Start of Assistant 1's Answer]\nfirst answer\n")
    assert judge_question("Do X.", "the input") == "Do X."
    assert judge_question("Do X.", "the input", "instruction_and_input") == "Do X.\nthe input"
