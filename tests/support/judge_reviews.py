"""The authors' real GPT-4 pairwise reviews (../shared/data/judge_reviews) as test material.

Each review file holds, per item of a test set, both models' answers (`Answer1` = the first model,
cherry_alpaca_5_per; `Answer2` = alpaca) and the judge's text and parsed scores in both orders.
From them: the two models' answer files, the recorded prompt -> review table a replaying judge
server answers from, and the counts the authors' own rule gives on the recorded scores.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from recycle.eval.pairwise_rule import render_judge
from recycle.eval.questions import BUILTIN_SETS, builtin_path, question_fields

REPO = Path(__file__).resolve().parents[2]
REVIEWS = REPO.parent / "shared" / "data" / "judge_reviews"
QUESTION_KEY = {
    "vicuna": "text",
    "koala": "prompt",
    "wizardlm": "Instruction",
    "sinstruct": "instruction",
    "lima": "conversations",
}
GENERATORS = ("cherry_alpaca_5_per", "alpaca")


def review_items(name: str) -> list[dict[str, Any]]:
    """The items of one set's review file."""
    return json.loads((REVIEWS / f"{name}_reviews_gpt4.json").read_text())["data"]


def inputs_of(name: str) -> list[str]:
    """The input of each question of the shipped set, in file order (the review files lack it)."""
    lines = builtin_path(name).read_text().splitlines()
    return [question_fields(json.loads(line))[1] for line in lines if line.strip()]


def answer_files(folder: Path) -> tuple[Path, Path]:
    """model_outputs.json of both models over the five sets, as `recycle generate` writes them."""
    rows: tuple[list, list] = ([], [])
    for name in BUILTIN_SETS:
        for item, input_ in zip(review_items(name), inputs_of(name), strict=True):
            for side, answer in enumerate((item["Answer1"], item["Answer2"])):
                rows[side].append(
                    {
                        "instruction": item[QUESTION_KEY[name]],
                        "input": input_,
                        "output": answer,
                        "generator": GENERATORS[side],
                        "dataset": name,
                    }
                )
    paths = (folder / "a.json", folder / "b.json")
    for path, side_rows in zip(paths, rows, strict=True):
        path.write_text(json.dumps(side_rows))
    return paths


def recorded_reviews() -> list[tuple[str, str]]:
    """(judge prompt's user message, review) of every recorded review, forward then reverse."""
    out = []
    for name in BUILTIN_SETS:
        for item in review_items(name):
            q, a1, a2 = item[QUESTION_KEY[name]], item["Answer1"], item["Answer2"]
            out.append((_user(q, a1, a2), item["review"]))
            out.append((_user(q, a2, a1), item["review_reverse"]))
    return out


def _user(question: str, answer_1: str, answer_2: str) -> str:
    return render_judge(question, answer_1, answer_2).messages[-1]["content"]


def authors_counts(scores: list[tuple[list[float], list[float]]]) -> list[int]:
    """[first model wins, ties, second model wins]: Cherry LLM's `get_scores_all`, case by case."""
    w = t = lose = 0
    for s, r in scores:
        k1, k2, k1r, k2r = s[0], s[1], r[1], r[0]
        if (k1 > k2 and k1r > k2r) or (k1 == k2 and k1r > k2r) or (k1 > k2 and k1r == k2r):
            w += 1
        elif (k1 == k2 and k1r < k2r) or (k1 < k2 and k1r == k2r) or (k1 < k2 and k1r < k2r):
            lose += 1
        elif (k1 < k2 and k1r > k2r) or (k1 > k2 and k1r < k2r) or (k1 == k2 and k1r == k2r):
            t += 1
    return [w, t, lose]


def recorded_scores(name: str) -> list[tuple[list[float], list[float]]]:
    """The authors' parsed (scores, scores_reverse) of each item, as their files store them."""
    return [
        (ast.literal_eval(i["scores"]), ast.literal_eval(i["scores_reverse"]))
        for i in review_items(name)
    ]


def replayed_scores(name: str) -> list[tuple[list[float], list[float]]]:
    """The scores a judge that answers each distinct prompt once (its first recorded review) gives."""
    first: dict[tuple[str, str, str], list[float]] = {}
    for set_name in BUILTIN_SETS:
        for i in review_items(set_name):
            q = i[QUESTION_KEY[set_name]]
            first.setdefault((q, i["Answer1"], i["Answer2"]), ast.literal_eval(i["scores"]))
            first.setdefault((q, i["Answer2"], i["Answer1"]), ast.literal_eval(i["scores_reverse"]))
    q = QUESTION_KEY[name]
    return [
        (first[(i[q], i["Answer1"], i["Answer2"])], first[(i[q], i["Answer2"], i["Answer1"])])
        for i in review_items(name)
    ]


def repeated_prompts() -> dict[str, list[tuple[str, int, str]]]:
    """Prompts the authors sent more than once (same question and answers in the same order, within
    a set or across sets: LIMA repeats Vicuna questions), with (set, item, review) of each sending."""
    seen: dict[str, list[tuple[str, int, str]]] = {}
    for name in BUILTIN_SETS:
        for k, i in enumerate(review_items(name)):
            q, a1, a2 = i[QUESTION_KEY[name]], i["Answer1"], i["Answer2"]
            seen.setdefault(_user(q, a1, a2), []).append((name, k, i["review"]))
            seen.setdefault(_user(q, a2, a1), []).append((name, k, i["review_reverse"]))
    return {user: sent for user, sent in seen.items() if len(sent) > 1}
