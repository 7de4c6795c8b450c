"""The normalized form of a conversation, shared by validation, scoring and training. Pure functions.

A conversation is a list of messages `{"role": "system" | "user" | "assistant", "content": str}`:
an optional leading system prompt, then user and assistant turns alternating, ending with an
assistant turn (data/normalize.py enforces this). It travels in the `messages` column
(columns.MESSAGES) as JSON text, so that it fits one Arrow string like every other sample field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

SYSTEM, USER, ASSISTANT = "system", "user", "assistant"


@dataclass(frozen=True)
class Conversation:
    """A validated conversation split into what scoring and training read.

    Attributes:
        system: the system prompt, "" when there is none.
        users: u_1..u_n, the user message of each exchange.
        answers: a_1..a_n, the assistant answer of each exchange.
    """

    system: str
    users: tuple[str, ...]
    answers: tuple[str, ...]

    @property
    def n_turns(self) -> int:
        """Number of assistant turns (exchanges)."""
        return len(self.answers)

    def messages(self, upto: int | None = None, answered: bool = True) -> list[dict[str, str]]:
        """Chat messages of the first `upto` exchanges (all by default); `answered=False` leaves
        out the last of them's answer (the prompt of that turn)."""
        n = self.n_turns if upto is None else upto
        out = [{"role": SYSTEM, "content": self.system}] if self.system else []
        for t in range(n):
            out.append({"role": USER, "content": self.users[t]})
            if answered or t < n - 1:
                out.append({"role": ASSISTANT, "content": self.answers[t]})
        return out


def to_json(messages: list[dict[str, str]]) -> str:
    """The `messages` column's text of a conversation."""
    return json.dumps(messages, ensure_ascii=False)


def conversation_id(messages: list[dict[str, str]]) -> str:
    """Content hash of a whole conversation (system prompt and every turn), like sample_id's."""
    blob = json.dumps(["messages", messages], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def from_messages(messages: list[dict[str, str]]) -> Conversation:
    """The Conversation of a normalized message list (as data/normalize.py writes it).

    Raises:
        ValueError: the list is not in normalized form (a bug upstream, not bad data).
    """
    system = ""
    rest = list(messages)
    if rest and rest[0]["role"] == SYSTEM:
        system = rest.pop(0)["content"]
    users, answers = rest[0::2], rest[1::2]
    if (
        not rest
        or len(users) != len(answers)
        or any(m["role"] != USER for m in users)
        or any(m["role"] != ASSISTANT for m in answers)
    ):
        raise ValueError(f"not a normalized conversation: roles {[m['role'] for m in messages]}")
    return Conversation(
        system, tuple(m["content"] for m in users), tuple(m["content"] for m in answers)
    )


def parse(text: str) -> Conversation:
    """The Conversation held in a `messages` cell (JSON text)."""
    return from_messages(json.loads(text))


def with_turn(history: str, user: str, answer: str) -> Conversation:
    """The Conversation of a turn row: its history (JSON messages, system + earlier exchanges, as
    pipeline/turns.py writes it) followed by (user, answer)."""
    messages = json.loads(history) + [
        {"role": USER, "content": user},
        {"role": ASSISTANT, "content": answer},
    ]
    return from_messages(messages)
