"""Parse teacher answers in the papers' format, tolerating what real teachers write. Never raises.

The prompts (prompts/reflect_instruction, prompts/reflect_response*) ask for
`[New Instruction] ... [End]`, `[New Answer] ... [End]` and `[Better Answer] ... [End]`. Teachers
drop `[End]`, write `New Instruction:` without brackets, wrap markers in markdown
(`**[New Instruction]**`, `### New Answer`), number them (`2. [New Instruction]`), and sometimes
echo the format line with its placeholder (`[New Instruction] your instruction [End]`) before the
real answer. A section runs from its marker to the next `[End]`, the next marker, or the end of
the text; placeholder sections are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NEW_INSTRUCTION = "new_instruction"
NEW_ANSWER = "new_answer"
BETTER_ANSWER = "better_answer"
OK = "ok"
EMPTY = "parse_empty_answer"

_LABEL_WORDS = {
    NEW_INSTRUCTION: "new instruction",
    NEW_ANSWER: "new answer",
    BETTER_ANSWER: "better answer",
}
_LABEL_RE = r"(?P<label>new\s+instruction|new\s+answer|better\s+answer)"
_EMPH = r"[*_]{0,3}"
_NUMBERING = r"(?:^[ \t>#]*(?:\d{1,2}\s*[.):]\s*)?)?"
# `[New Instruction]`, `**[New Instruction]:**`, `2. [New Instruction]` (numbering only at line start).
_BRACKETED = rf"{_NUMBERING}{_EMPH}\[\s*{_LABEL_RE}\s*:?\s*\]{_EMPH}\s*:?{_EMPH}"
# `New Instruction:`, `**New Instruction:**`, `### New Instruction` alone on its line, `2. New Answer:`.
_PLAIN = (
    r"^[ \t>#*_\-]*(?:\d{1,2}\s*[.):]\s*)?[*_]{0,3}"
    r"(?P<plabel>new\s+instruction|new\s+answer|better\s+answer)[*_]{0,3}[ \t]*(?::[*_]{0,3}|$)"
)
_START = re.compile(rf"{_BRACKETED}|{_PLAIN}", re.IGNORECASE | re.MULTILINE)
_END = re.compile(r"[*_]{0,3}\[\s*end(?:\s+of\s+[a-z ]{1,30})?\s*\][*_]{0,3}", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(r"(?:\s+|^)\d{1,2}\s*[.)]\s*$")
_WRAP = re.compile(r"^(\*\*|__|\*|_)(?P<body>.+)\1$", re.DOTALL)
_PLACEHOLDERS = {
    "",
    "n/a",
    "na",
    "none",
    "your instruction",
    "your new instruction",
    "your answer",
    "your new answer",
    "your better answer",
}


@dataclass(frozen=True)
class Parsed:
    """What a parser found: the fields when `reason` is "ok", else why nothing usable was found."""

    reason: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every field of the format was found."""
        return self.reason == OK


@dataclass(frozen=True)
class _Section:
    label: str
    start: int
    text: str
    placeholder: bool


def _label_key(words: str) -> str:
    norm = " ".join(words.lower().split())
    return next(k for k, v in _LABEL_WORDS.items() if v == norm)


def _clean(text: str, ends_at_marker: bool) -> str:
    inline_marker_follows = ends_at_marker and not text.rstrip(" \t").endswith("\n")
    text = text.strip()
    if inline_marker_follows:  # `... text 3. [New Answer]`: the "3." numbers the next marker
        text = _TRAILING_NUMBER.sub("", text).rstrip()
    wrapped = _WRAP.match(text)
    while wrapped and _is_whole_wrap(wrapped.group(1), wrapped.group("body")):
        text = wrapped.group("body")
        wrapped = _WRAP.match(text)
    return text.strip()


def _is_whole_wrap(delim: str, body: str) -> bool:
    """`**text**` wraps the whole section; `**a** and **b**` does not."""
    return delim not in body and body.strip() == body


def _is_placeholder(text: str) -> bool:
    norm = re.sub(r"[^a-z0-9/ ]+", " ", text.lower())
    return " ".join(norm.split()) in _PLACEHOLDERS


def sections(text: str) -> list[_Section]:
    """Every marked section of an answer, in order, placeholders included (flagged)."""
    starts = list(_START.finditer(text))
    ends = [m.start() for m in _END.finditer(text)]
    out = []
    for i, m in enumerate(starts):
        next_start = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        next_end = next((e for e in ends if e >= m.end()), len(text))
        stop = min(next_start, next_end)
        body = _clean(text[m.end() : stop], ends_at_marker=stop == next_start < next_end)
        label = _label_key(m.group("label") or m.group("plabel"))
        out.append(_Section(label, m.start(), body, _is_placeholder(body)))
    return out


def _missing(label: str, found: list[_Section]) -> str:
    kind = "placeholder" if any(s.label == label for s in found) else "missing"
    return f"parse_{kind}_{label}"


def parse_instruction_reflection(text: str | None) -> Parsed:
    """Find `[New Instruction]` and the `[New Answer]` after it; fields new_instruction, new_answer."""
    if not isinstance(text, str) or not text.strip():
        return Parsed(EMPTY)
    found = sections(text)
    instructions = [s for s in found if s.label == NEW_INSTRUCTION and not s.placeholder]
    if not instructions:
        return Parsed(_missing(NEW_INSTRUCTION, found))
    for ins in instructions:
        answer = next(
            (
                s
                for s in found
                if s.label == NEW_ANSWER and s.start > ins.start and not s.placeholder
            ),
            None,
        )
        if answer is not None:
            return Parsed(OK, {NEW_INSTRUCTION: ins.text, NEW_ANSWER: answer.text})
    return Parsed(_missing(NEW_ANSWER, [s for s in found if s.start > instructions[0].start]))


def parse_response_reflection(text: str | None) -> Parsed:
    """Find `[Better Answer]`; field better_answer."""
    if not isinstance(text, str) or not text.strip():
        return Parsed(EMPTY)
    found = sections(text)
    better = next((s for s in found if s.label == BETTER_ANSWER and not s.placeholder), None)
    if better is None:
        return Parsed(_missing(BETTER_ANSWER, found))
    return Parsed(OK, {BETTER_ANSWER: better.text})
