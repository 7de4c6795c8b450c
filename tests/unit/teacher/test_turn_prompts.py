"""Teacher prompts of a conversation's turn rows: the papers' reflection prompts with the earlier
turns as context; rows without a history (single samples, a first turn without system prompt)
get the single-turn prompts byte for byte; the history is part of the cache key."""

from __future__ import annotations

import json

from recycle import columns as C
from recycle.config.teacher import TeacherConfig
from recycle.teacher.cache import cache_key
from recycle.teacher.tasks import InstructionTask, ResponseTask
from tests.unit.teacher.test_authors_prompts import (
    INSTRUCTION_CRITERIA,
    INSTRUCTION_SYSTEM,
    NO_INPUT,
    PLAIN,
    RESPONSE_CRITERIA,
    RESPONSE_SYSTEM,
    sent,
)

HISTORY = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name a planet."},
    {"role": "assistant", "content": "Mars."},
    {"role": "user", "content": "And a moon of it?"},
    {"role": "assistant", "content": "Phobos."},
]
CONTEXT = (
    "[The Start of Conversation So Far]\n[System]\nYou are terse.\n\n"
    "[User]\nName a planet.\n\n[Assistant]\nMars.\n\n"
    "[User]\nAnd a moon of it?\n\n[Assistant]\nPhobos.\n\n"
    "[The End of Conversation So Far]\n\n"
)
FITS = {
    "instruction": "The instruction is the next user message of the conversation so far; make "
    "sure the new instruction also fits as that next message. ",
    "response": "The instruction is the next user message of the conversation so far; the better "
    "answer must fit the conversation so far. ",
}


def turn_row(history: list[dict[str, str]] | None) -> dict[str, object]:
    return {**PLAIN, C.TURN_HISTORY: None if history is None else json.dumps(history)}


def test_no_history_or_an_empty_one_is_the_single_turn_prompt():
    for task in (InstructionTask(), ResponseTask()):
        single = sent(task, PLAIN)
        assert sent(task, turn_row(None)) == single
        assert sent(task, turn_row([])) == single


def test_instruction_prompt_gives_the_earlier_turns_as_context():
    criteria = INSTRUCTION_CRITERIA.replace("2. Based", FITS["instruction"] + "2. Based", 1)
    user = CONTEXT + NO_INPUT.format(
        ins=PLAIN[C.INSTRUCTION], outp=PLAIN[C.OUTPUT], criteria=criteria
    )
    assert sent(InstructionTask(), turn_row(HISTORY)) == [
        ("system", INSTRUCTION_SYSTEM),
        ("user", user),
    ]


def test_response_prompt_gives_the_earlier_turns_as_context():
    criteria = RESPONSE_CRITERIA.replace("2. Based", FITS["response"] + "2. Based", 1)
    user = CONTEXT + NO_INPUT.format(
        ins=PLAIN[C.INSTRUCTION], outp=PLAIN[C.OUTPUT], criteria=criteria
    )
    assert sent(ResponseTask(), turn_row(HISTORY)) == [("system", RESPONSE_SYSTEM), ("user", user)]


def test_system_prompt_only_history_and_no_system_block():
    only_system = sent(InstructionTask(), turn_row(HISTORY[:1]))[1][1]
    assert only_system.startswith(
        "[The Start of Conversation So Far]\n[System]\nYou are terse.\n\n"
        "[The End of Conversation So Far]\n\n[Instruction]\n"
    )
    no_system = sent(InstructionTask(), turn_row(HISTORY[1:3]))[1][1]
    assert no_system.startswith(
        "[The Start of Conversation So Far]\n[User]\nName a planet.\n\n[Assistant]\nMars.\n\n"
        "[The End of Conversation So Far]\n\n"
    )


def test_the_history_is_part_of_the_cache_key():
    """The cache keys on the rendered messages: the same turn after another history is another
    prompt, another key; the same history, the same key."""

    def key(history):
        prompt = InstructionTask().request(turn_row(history), TeacherConfig()).prompt
        return cache_key("m", prompt.messages, {}, prompt.version)

    assert key(HISTORY) == key(list(HISTORY))
    assert key(HISTORY) != key(HISTORY[:3])
    assert key(HISTORY) != key(None)
