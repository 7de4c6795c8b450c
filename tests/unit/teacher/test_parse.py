"""The teacher-answer parsers on hand-written answers shaped like real teachers' output, and fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recycle.teacher.parse import (
    BETTER_ANSWER,
    EMPTY,
    NEW_ANSWER,
    NEW_INSTRUCTION,
    parse_instruction_reflection,
    parse_response_reflection,
)

# A GPT-4-style answer exactly in the requested format.
CLEAN = """1. The instruction "Give three tips for staying healthy." is very broad. Complexity of the Topic: low.
Level of Detail Required: unspecified. The answer lists generic tips without explaining them.

2. [New Instruction] Design a one-week plan for a sedentary office worker who wants to improve
cardiovascular health, explaining the reasoning behind each day's activities. [End]

3. [New Answer] Day 1: a 20-minute brisk walk at lunch, because short moderate sessions are easy
to adopt...
Day 7: rest and reflect on progress. [End]"""

INSTRUCTION_CASES = {
    "clean": (
        CLEAN,
        "Design a one-week plan for a sedentary office worker who wants to improve\ncardiovascular health, explaining the reasoning behind each day's activities.",
        "Day 1: a 20-minute brisk walk at lunch, because short moderate sessions are easy\nto adopt...\nDay 7: rest and reflect on progress.",
    ),
    "missing_end_on_answer": (
        "Analysis: too vague.\n[New Instruction] Name the planets in order from the Sun. [End]\n"
        "[New Answer] Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus, Neptune.",
        "Name the planets in order from the Sun.",
        "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus, Neptune.",
    ),
    "missing_both_ends_with_numbering": (
        "1. The instruction lacks context.\n2. [New Instruction] Compare TCP and UDP for video streaming.\n"
        "3. [New Answer] TCP guarantees delivery; UDP favours latency.",
        "Compare TCP and UDP for video streaming.",
        "TCP guarantees delivery; UDP favours latency.",
    ),
    "inline_numbering_as_in_the_prompt": (
        "[New Instruction] Explain recursion with an example. 3. [New Answer] Recursion is when a function calls itself. [End]",
        "Explain recursion with an example.",
        "Recursion is when a function calls itself.",
    ),
    "colon_without_brackets": (
        "Here is my analysis.\n\nNew Instruction: Write a haiku about autumn rain.\n\nNew Answer: Cold drops on maple /\nthe path turns to copper glass /\nfootsteps slow, then stop",
        "Write a haiku about autumn rain.",
        "Cold drops on maple /\nthe path turns to copper glass /\nfootsteps slow, then stop",
    ),
    "bold_markers": (
        "**Analysis:** the instruction is trivial.\n\n**[New Instruction]** Derive the quadratic formula step by step. **[End]**\n\n"
        "**[New Answer]** Start from ax^2 + bx + c = 0 and complete the square. **[End]**",
        "Derive the quadratic formula step by step.",
        "Start from ax^2 + bx + c = 0 and complete the square.",
    ),
    "bold_label_with_colon_and_bold_body": (
        "**New Instruction:** **Plan a three-day trip to Rome on a student budget.**\n"
        "**New Answer:** Day 1: the **Colosseum** and the *Forum*.",
        "Plan a three-day trip to Rome on a student budget.",
        "Day 1: the **Colosseum** and the *Forum*.",
    ),
    "markdown_headings": (
        "### Analysis\nToo simple.\n### New Instruction\nCompute 2 + 3 and explain carry-over in addition.\n### New Answer\n5; no carry is needed.",
        "Compute 2 + 3 and explain carry-over in addition.",
        "5; no carry is needed.",
    ),
    "echoed_placeholders_before_real_answer": (
        "You asked for [New Instruction] your instruction [End] and [New Answer] your answer [End].\n"
        "[New Instruction] List three causes of inflation. [End]\n[New Answer] Demand, costs, expectations. [End]",
        "List three causes of inflation.",
        "Demand, costs, expectations.",
    ),
    "lowercase_markers_and_END": (
        "[new instruction] Summarize the plot of Hamlet in two sentences. [END]\n[new answer] A prince avenges his father. Most of the court dies. [END]",
        "Summarize the plot of Hamlet in two sentences.",
        "A prince avenges his father. Most of the court dies.",
    ),
}


@pytest.mark.parametrize("name", sorted(INSTRUCTION_CASES))
def test_instruction_reflection_tolerances(name: str) -> None:
    text, instruction, answer = INSTRUCTION_CASES[name]
    parsed = parse_instruction_reflection(text)
    assert parsed.ok, parsed.reason
    assert parsed.fields == {NEW_INSTRUCTION: instruction, NEW_ANSWER: answer}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I think the instruction is fine as it is.", "parse_missing_new_instruction"),
        (
            "[New Instruction] your instruction [End] [New Answer] your answer [End]",
            "parse_placeholder_new_instruction",
        ),
        (
            "[New Instruction] Explain DNS. [End]\n[New Answer] N/A [End]",
            "parse_placeholder_new_answer",
        ),
        ("[New Instruction] Explain DNS. [End]", "parse_missing_new_answer"),
        ("[New Instruction] [End] [New Answer] text [End]", "parse_placeholder_new_instruction"),
        ("", EMPTY),
        (None, EMPTY),
    ],
)
def test_instruction_reflection_failures_name_the_reason(text: str | None, reason: str) -> None:
    parsed = parse_instruction_reflection(text)
    assert not parsed.ok
    assert parsed.reason == reason
    assert parsed.fields == {}


def test_answer_before_the_instruction_is_not_used() -> None:
    text = "[New Answer] stray [End]\n[New Instruction] Define entropy. [End]\n[New Answer] A measure of disorder. [End]"
    assert parse_instruction_reflection(text).fields[NEW_ANSWER] == "A measure of disorder."


def test_number_at_end_of_instruction_is_kept_when_a_line_break_separates_the_next_marker() -> None:
    text = "[New Instruction] What is 2 + 3.\n3. [New Answer] 5"
    assert parse_instruction_reflection(text).fields[NEW_INSTRUCTION] == "What is 2 + 3."


@pytest.mark.parametrize(
    ("text", "better"),
    [
        (
            "1. The answer is too short and omits units.\n2. [Better Answer] The speed of light is about 299,792 km/s in vacuum. [End]",
            "The speed of light is about 299,792 km/s in vacuum.",
        ),
        (
            "Analysis...\n2. **[Better Answer]** Paris is the capital of France.",
            "Paris is the capital of France.",
        ),
        (
            "Better Answer: Use a context manager so the file is closed.",
            "Use a context manager so the file is closed.",
        ),
        (
            "Format: [Better Answer] your answer [End]\n[Better Answer]\n- point one\n- point two\n[End]",
            "- point one\n- point two",
        ),
        ("## Better Answer\nThree steps: plan, do, check.", "Three steps: plan, do, check."),
    ],
)
def test_response_reflection_tolerances(text: str, better: str) -> None:
    parsed = parse_response_reflection(text)
    assert parsed.ok, parsed.reason
    assert parsed.fields == {BETTER_ANSWER: better}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("The answer is already good.", "parse_missing_better_answer"),
        ("[Better Answer] N/A [End]", "parse_placeholder_better_answer"),
        ("[Better Answer] your answer [End]", "parse_placeholder_better_answer"),
        ("   ", EMPTY),
    ],
)
def test_response_reflection_failures(text: str, reason: str) -> None:
    assert parse_response_reflection(text).reason == reason


MARKERS = [
    "[New Instruction]",
    "[New Answer]",
    "[Better Answer]",
    "[End]",
    "**",
    "New Instruction:",
    "\n",
    "3. ",
    "N/A",
    "your answer",
    "#",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(MARKERS), st.text(max_size=40)), max_size=30))
def test_parsers_never_raise(parts: list[str]) -> None:
    text = "".join(parts)
    for parse in (parse_instruction_reflection, parse_response_reflection):
        parsed = parse(text)
        assert parsed.ok == (parsed.reason == "ok")
        assert all(isinstance(v, str) and v for v in parsed.fields.values())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_parsers_never_raise_on_arbitrary_text(text: str) -> None:
    parse_instruction_reflection(text)
    parse_response_reflection(text)
