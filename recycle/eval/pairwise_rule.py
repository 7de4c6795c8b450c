"""The papers' pairwise judge, as pure functions: prompt, score parse, per-item outcome, win rate.

Faithful to Cherry LLM's `evaluation/` (the code behind the papers' GPT-4 numbers):

- the judge sees the question and both answers twice, A as Assistant 1 (forward) and then
  B as Assistant 1 (reverse), with prompts/judge_pairwise;
- a review's score pair is its first line, commas turned into spaces, split on single spaces:
  exactly two numbers, else the pair is unparseable and counts as (-1, -1), i.e. a tie of that order;
- per item, from A's side, forward compares s[0] with s[1] and reverse r[1] with r[0]: two ">"
  or one ">" and one "=" is a win, two "<" or one "<" and one "=" a loss, anything else a tie;
- win rate = (wins - losses) / items + 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from recycle.prompts import ChatPrompt, render_chat

PROMPT = "judge_pairwise"
UNPARSEABLE = (-1.0, -1.0)
WIN, TIE, LOSE = "win", "tie", "lose"
OUTCOMES = (WIN, TIE, LOSE)
# (sign of the forward comparison, sign of the reverse one) -> A's outcome; the nine cases of the
# authors' `get_scores_all`.
_RULE = {
    (1, 1): WIN,
    (0, 1): WIN,
    (1, 0): WIN,
    (-1, -1): LOSE,
    (0, -1): LOSE,
    (-1, 0): LOSE,
    (1, -1): TIE,
    (-1, 1): TIE,
    (0, 0): TIE,
}


def judge_question(instruction: str, input_: str, mode: str = "instruction") -> str:
    """The question the judge sees: the instruction (the authors'), or with its input appended."""
    if mode == "instruction_and_input" and input_:
        return f"{instruction}\n{input_}"
    return instruction


def render_judge(question: str, answer_1: str, answer_2: str) -> ChatPrompt:
    """The judge's chat prompt with `answer_1` as Assistant 1."""
    return render_chat(PROMPT, question=question, answer_1=answer_1, answer_2=answer_2)


def parse_scores(review: str) -> tuple[float, float]:
    """The two scores on a review's first line, by the authors' rule; (-1, -1) when it does not parse.

    "8 9" and "8, 9" parse; "8/10 9/10", "Assistant 1: 8" or "8  9" (two spaces) do not. A
    non-finite number (nan, inf) is treated as unparseable too: compared, it would match no case.
    """
    parts = review.split("\n")[0].replace(",", " ").split(" ")
    if len(parts) != 2:
        return UNPARSEABLE
    try:
        scores = (float(parts[0]), float(parts[1]))
    except ValueError:
        return UNPARSEABLE
    return scores if all(math.isfinite(s) for s in scores) else UNPARSEABLE


def is_parsed(scores: Sequence[float]) -> bool:
    """Whether a score pair came from a review that parsed."""
    return tuple(scores) != UNPARSEABLE


def _sign(x: float, y: float) -> int:
    return (x > y) - (x < y)


def order_signs(forward: Sequence[float], reverse: Sequence[float]) -> tuple[int, int]:
    """(+1 / 0 / -1 for "A better" in the forward order, the same in the reverse order)."""
    return _sign(forward[0], forward[1]), _sign(reverse[1], reverse[0])


def outcome(forward: Sequence[float], reverse: Sequence[float]) -> str:
    """A's outcome on one item from the scores of both orders ([Assistant 1, Assistant 2] each)."""
    return _RULE[order_signs(forward, reverse)]


def win_rate(wins: int, losses: int, n: int) -> float:
    """(wins - losses) / n + 1: 1 is a draw, 2 wins everything, 0 loses everything; NaN when n = 0."""
    return (wins - losses) / n + 1 if n else float("nan")
