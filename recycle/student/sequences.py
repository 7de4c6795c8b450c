"""Token sequences of the student, shared by scoring and training (README, How it works).

Every sequence is built from separately tokenized pieces, never by searching strings:

    input_ids = [start] + tok(prefix) + tok(target) (+ [eos] when training)

and the loss is taken on the target positions only. `start` is the tokenizer's bos token; a
tokenizer without one (Qwen, GPT-2 style) starts with its eos token instead, the usual
document separator of such models, so that the first target token always has a context and the
conditional and unconditional passes score exactly the same target tokens.

Templates: a sample with an input uses the template's with-input form, as the authors did for
scoring, training and generation alike (vicuna `USER: {instruction}\nInput:\n{input} ASSISTANT:`,
alpaca's "paired with an input" preamble and `### Input:` block, wizardlm `{instruction}\n{input}`).
r-IFD's target x joins instruction and input with nothing between them, as the authors'
`data_analysis.py` does (`instruct_i_ori + input_i`). The `*_joined` templates and `chat` keep
the earlier behaviour: the input on a new line after the instruction, in prefix and target alike.
`none` is Superfiltering's plain form for a small scorer (GPT-2 class) that never saw a chat
format: `{instruction}\n`, or `{instruction}\n{input}\n` with an input, and the response right
after; its r-IFD target is the design's x, instruction and input joined with nothing (Superfiltering
computes no r-IFD to copy).

Truncation: when prefix + target exceed `max_length`, the target's end is cut to fit, and the
unconditional sequence of a pair scores that same cut target. A sequence that cannot keep a
single target token carries an error reason instead of being scored; nothing here raises on a
bad sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recycle.data.normalize import query_text
from recycle.errors import ConfigError
from recycle.prompts import (
    AUTHORS_TEMPLATES,
    PLAIN_TEMPLATE,
    STUDENT_TEMPLATES,
    render_template,
    render_text,
)

CHAT_TEMPLATE = "chat"

# Reasons a sequence cannot be scored (the text of SCORE_ERROR starts with one of these).
EMPTY_TARGET = "empty_target"
NO_ROOM_FOR_TARGET = "no_room_for_target"


@dataclass(frozen=True)
class TokenSequence:
    """One student sequence: ids, where the target starts, and whether it can be scored.

    Attributes:
        input_ids: [start] + prefix ids + target ids (target possibly cut at its end).
        target_start: index of the first target token in `input_ids`.
        truncated: the target was cut to fit `max_length`.
        error: "" when the sequence has at least one target token, else the reason.
    """

    input_ids: tuple[int, ...]
    target_start: int
    truncated: bool = False
    error: str = ""

    @property
    def n_target(self) -> int:
        """Number of target tokens the loss is taken over."""
        return len(self.input_ids) - self.target_start

    @property
    def target_ids(self) -> tuple[int, ...]:
        """The target tokens (after any cut)."""
        return self.input_ids[self.target_start :]


def start_token_id(tokenizer: Any) -> int:
    """The token every sequence starts with: bos, else eos (for tokenizers without a bos).

    Raises:
        ConfigError: the tokenizer has neither a bos nor an eos token.
    """
    for tid in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return int(tid)
    raise ConfigError(
        "the student tokenizer has neither a bos nor an eos token, so no sequence has a first "
        "context token; set tokenizer.bos_token (or eos_token) in the model folder"
    )


def pad_token_id(tokenizer: Any) -> int:
    """Id used for right padding; padded positions are masked and never scored, so any id works."""
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id):
        if tid is not None:
            return int(tid)
    return 0


def prompt_prefix(template: str, query: str, tokenizer: Any = None, input_: str = "") -> str:
    """T(x): the student prompt for a query, with one of the named templates or the chat template.

    The one function that turns a sample into its prompt, for scoring, training and generation.

    Args:
        template: a name of prompts/templates/ ("vicuna", "alpaca", "wizardlm", their `_joined`
            variants, "none": Superfiltering's plain `{instruction}\n[{input}\n]`) or "chat".
        query: the instruction (or any query, e.g. the reverse query of y).
        tokenizer: needed for "chat": its `apply_chat_template` renders the user turn plus the
            generation prompt. A leading bos text is removed, since sequences add the start token.
        input_: the sample's input; when non-empty the template's with-input form is used ("chat":
            the user turn is the instruction, a newline, then the input).

    Raises:
        ConfigError: unknown template, or "chat" with a tokenizer that has no chat template.
    """
    if template != CHAT_TEMPLATE:
        if template not in STUDENT_TEMPLATES:
            raise ConfigError(
                f"unknown student template {template!r}; use one of {', '.join(STUDENT_TEMPLATES)} or 'chat'"
            )
        return render_template(template, query, input_)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            "student.template=chat needs a tokenizer with a chat template; pick vicuna, alpaca or wizardlm"
        )
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": query_text(query, input_)}],
        tokenize=False,
        add_generation_prompt=True,
    )
    bos = tokenizer.bos_token
    return text[len(bos) :] if bos and text.startswith(bos) else text


def rifd_target(template: str, instruction: str, input_: str = "") -> str:
    """x as the target of r-IFD (loss_x_given_y, loss_x): instruction and input joined.

    The authors' templates and "none" join them with nothing between (their
    `instruct_i_ori + input_i`); the `_joined` templates and "chat" with a newline, as their
    prefix does.
    """
    if template in AUTHORS_TEMPLATES or template == PLAIN_TEMPLATE:
        return instruction + input_
    return query_text(instruction, input_)


def reverse_query(response: str) -> str:
    """The query of r-IFD's conditional loss: prompts/reverse_query around the response y."""
    return render_text("reverse_query", response=response)


def tokenize(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text, without special tokens; "" -> []. One batched tokenizer call."""
    nonempty = [t for t in texts if t]
    ids = (
        tokenizer(list(nonempty), add_special_tokens=False, verbose=False)["input_ids"]
        if nonempty
        else []
    )
    it = iter(ids)
    return [list(next(it)) if t else [] for t in texts]


def sequence_from_ids(
    start: int | None,
    prefix_ids: Sequence[int],
    target_ids: Sequence[int],
    max_length: int,
) -> TokenSequence:
    """Assemble [start] + prefix + target, cutting the target's end to fit `max_length`."""
    head = ([start] if start is not None else []) + list(prefix_ids)
    room = max_length - len(head)
    kept = list(target_ids[: max(room, 0)])
    truncated = len(kept) < len(target_ids)
    error = ""
    if not target_ids:
        error = f"{EMPTY_TARGET}: the target has no tokens"
    elif not kept:
        error = f"{NO_ROOM_FOR_TARGET}: prefix of {len(head)} tokens leaves no target token within max_length={max_length}"
    return TokenSequence(tuple(head + kept), len(head), truncated, error)


def build_sequence(
    tokenizer: Any, prefix: str, target: str, max_length: int, add_eos: bool = False
) -> TokenSequence:
    """[start] + tok(prefix) + tok(target) (+ eos when `add_eos`, for training), cut to `max_length`.

    The eos is part of the target (it is trained on) and is the first thing a cut removes.
    """
    prefix_ids, target_ids = tokenize(tokenizer, [prefix, target])
    if add_eos and target_ids and tokenizer.eos_token_id is not None:
        target_ids.append(int(tokenizer.eos_token_id))
    return sequence_from_ids(start_token_id(tokenizer), prefix_ids, target_ids, max_length)


def unconditional(cond: TokenSequence, start: int) -> TokenSequence:
    """[start] + the (possibly cut) target of `cond`: the same target tokens, without the prefix."""
    return TokenSequence((start, *cond.target_ids), 1, cond.truncated, cond.error)


def pair_from_ids(
    start: int, prefix_ids: Sequence[int], target_ids: Sequence[int], max_length: int
) -> tuple[TokenSequence, TokenSequence]:
    """The conditional sequence and the unconditional one over the same cut target."""
    cond = sequence_from_ids(start, prefix_ids, target_ids, max_length)
    return cond, unconditional(cond, start)


def build_pair(
    tokenizer: Any, prefix: str, target: str, max_length: int
) -> tuple[TokenSequence, TokenSequence]:
    """(conditional, unconditional) sequences of one loss pair of IFD or r-IFD.

    The conditional is [start] + tok(prefix) + tok(target) cut to `max_length`; the
    unconditional is [start] + the same cut target ids, so both score the same tokens.
    """
    prefix_ids, target_ids = tokenize(tokenizer, [prefix, target])
    return pair_from_ids(start_token_id(tokenizer), prefix_ids, target_ids, max_length)
