"""Token sequences of a conversation, shared by per-turn scoring and training (DESIGN, Conversations).

A conversation (s, u_1, a_1, ..., u_n, a_n) becomes one sequence of separately tokenized pieces,
never found by searching strings:

    [start] + c_1 + a_1 + e_1 + c_2 + a_2 + e_2 + ... + c_n + a_n (+ e_n when training)

- c_t, the context piece of turn t: what the template puts before answer t. The authors'
  templates extended to several turns as FastChat renders them (prompts/templates/turns/):
  c_1 = T(u_1) (vicuna: `{s} USER: u_1 ASSISTANT:`, the template's preamble when there is no
  system prompt), c_t = `USER: u_t ASSISTANT:` after the previous answer. `chat`: the tokenizer's
  chat template rendered turn by turn; c_t is what the prompt of turn t adds to the rendered
  conversation before it (a template whose earlier text changes once later turns follow cannot
  be cut this way, and the conversation gets a reason instead of scores).
- e_t, the end of answer t: the eos token (FastChat's `</s>`) for the authors' templates; for
  `chat`, the template's own end-of-turn text (e.g. `<|im_end|>\n`) after a_1..a_{n-1}, and the
  eos after a_n, as a single-turn training sample ends.

Answer t is scored on the a_t span (scoring: e_t is context of the next turn, never a target);
training learns a_t + e_t of every turn and nothing else. One exchange without a system prompt
gives exactly the single-turn sequences of `sequences.py`.

Truncation: the sequence is cut at `max_length`. A turn whose answer starts past the cut gets a
reason (`no_room_for_target`) and no score; the turn the cut falls in is scored on its kept
tokens (marked truncated), exactly as a single-turn target is cut; the turns before keep theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from recycle.data.conversation import Conversation
from recycle.prompts import render_turn
from recycle.student.sequences import (
    CHAT_TEMPLATE,
    EMPTY_TARGET,
    NO_ROOM_FOR_TARGET,
    TokenSequence,
    prompt_prefix,
    start_token_id,
    tokenize,
)

TEMPLATE_NOT_INCREMENTAL = "template_not_incremental"
TEMPLATE_ERROR = "template_error"


@dataclass(frozen=True)
class ConversationPieces:
    """A conversation's token pieces (see the module docstring); `error` set when it has none."""

    start: int
    contexts: tuple[tuple[int, ...], ...]  # c_1..c_n
    answers: tuple[tuple[int, ...], ...]  # a_1..a_n
    ends: tuple[tuple[int, ...], ...]  # e_1..e_n (e_n only enters training)
    error: str = ""

    @property
    def n_turns(self) -> int:
        """Number of assistant turns."""
        return len(self.answers)


@dataclass(frozen=True)
class ConversationSequence:
    """The scoring sequence of a conversation and each answer's span in it.

    Attributes:
        input_ids: [start] + c_1 + a_1 + e_1 + ... cut at max_length (and after the last kept
            answer token).
        spans: (start, end) of answer t's kept tokens in input_ids; start == end when none.
        truncated: answer t was cut at its end to fit.
        errors: "" where answer t keeps a token, else the reason.
    """

    input_ids: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]
    truncated: tuple[bool, ...]
    errors: tuple[str, ...]

    def turn(self, t: int) -> TokenSequence:
        """Turn t alone, its history as context: the sequence a per-turn loop would score."""
        start, end = self.spans[t]
        return TokenSequence(self.input_ids[:end], start, self.truncated[t], self.errors[t])

    def answer_ids(self, t: int) -> tuple[int, ...]:
        """The (possibly cut) tokens of answer t that its losses cover."""
        start, end = self.spans[t]
        return self.input_ids[start:end]


def _authors_texts(template: str, conv: Conversation) -> tuple[list[str], list[str | None]]:
    contexts = [
        render_turn(template, u, conv.system, first=t == 0) for t, u in enumerate(conv.users)
    ]
    return contexts, [None] * conv.n_turns  # None: the eos token


def _chat_texts(tokenizer: Any, conv: Conversation) -> tuple[list[str], list[str | None]]:
    """Context pieces and end-of-turn texts from the chat template, rendered turn by turn.

    Raises:
        ValueError: the template renders an earlier part differently once later turns follow.
    """
    contexts, ends, before = [], [], ""
    for t, answer in enumerate(conv.answers):
        prompt = tokenizer.apply_chat_template(
            conv.messages(t + 1, answered=False), tokenize=False, add_generation_prompt=True
        )
        full = tokenizer.apply_chat_template(conv.messages(t + 1), tokenize=False)
        if not prompt.startswith(before) or not full.startswith(prompt + answer):
            raise ValueError(
                f"{TEMPLATE_NOT_INCREMENTAL}: the chat template renders turn {t + 1} so that the "
                "text before it changes, or the answer is not written as given; no span per turn"
            )
        contexts.append(prompt[len(before) :])
        ends.append(full[len(prompt) + len(answer) :])
        before = full
    bos = tokenizer.bos_token
    if bos and contexts[0].startswith(bos):
        contexts[0] = contexts[0][len(bos) :]  # sequences add the start token themselves
    return contexts, ends[:-1] + [None]  # the last answer ends with the eos, as a single sample


def conversation_texts(
    template: str, tokenizer: Any, conv: Conversation
) -> tuple[list[str], list[str | None], str]:
    """(context texts c_t, end texts e_t with None for the eos token, error) of a conversation."""
    try:
        if template == CHAT_TEMPLATE:
            contexts, ends = _chat_texts(tokenizer, conv)
        else:
            contexts, ends = _authors_texts(template, conv)
    except ValueError as err:
        return [], [], str(err)
    except jinja2.TemplateError as err:
        return [], [], f"{TEMPLATE_ERROR}: the chat template cannot render it: {err}"
    return contexts, ends, ""


def conversation_pieces(
    tokenizer: Any, template: str, convs: Sequence[Conversation]
) -> list[ConversationPieces]:
    """Token pieces of each conversation, every distinct text tokenized once in one call.

    Raises:
        ConfigError: an unknown template, or `chat` with a tokenizer that has no chat template.
    """
    prompt_prefix(template, "", tokenizer)  # bad config fails here, before any row
    start = start_token_id(tokenizer)
    eos = () if tokenizer.eos_token_id is None else (int(tokenizer.eos_token_id),)
    rendered = [conversation_texts(template, tokenizer, c) for c in convs]
    texts = [
        t for (ctx, ends, _), c in zip(rendered, convs, strict=True) for t in (*ctx, *c.answers)
    ]
    texts += [e for _, ends, _ in rendered for e in ends if e is not None]
    distinct = list(dict.fromkeys(texts))
    ids = dict(zip(distinct, (tuple(x) for x in tokenize(tokenizer, distinct)), strict=True))
    out = []
    for (contexts, ends, error), conv in zip(rendered, convs, strict=True):
        if error:
            none = ((),) * conv.n_turns
            out.append(ConversationPieces(start, none, none, none, error))
            continue
        out.append(
            ConversationPieces(
                start,
                tuple(ids[c] for c in contexts),
                tuple(ids[a] for a in conv.answers),
                tuple(eos if e is None else ids[e] for e in ends),
            )
        )
    return out


def _assemble(p: ConversationPieces, last_end: bool) -> tuple[list[int], list[tuple[int, int]]]:
    """ids and the (start, end) of each answer's tokens; e_n is appended only when `last_end`."""
    ids, spans = [p.start], []
    for t in range(p.n_turns):
        ids.extend(p.contexts[t])
        begin = len(ids)
        ids.extend(p.answers[t])
        spans.append((begin, len(ids)))
        if t < p.n_turns - 1 or last_end:
            ids.extend(p.ends[t])
    return ids, spans


def scoring_sequence(p: ConversationPieces, max_length: int) -> ConversationSequence:
    """The one sequence that scores every answer of a conversation (its conditional losses)."""
    if p.error:
        n = p.n_turns
        return ConversationSequence((p.start,), ((1, 1),) * n, (False,) * n, (p.error,) * n)
    ids, spans = _assemble(p, last_end=False)
    kept, truncated, errors = [], [], []
    for begin, end in spans:
        stop = min(end, max_length)
        kept.append((begin, max(stop, begin)))
        truncated.append(stop < end)
        if end == begin:
            errors.append(f"{EMPTY_TARGET}: the target has no tokens")
        elif stop <= begin:
            errors.append(
                f"{NO_ROOM_FOR_TARGET}: prefix of {begin} tokens leaves no target token within "
                f"max_length={max_length}"
            )
        else:
            errors.append("")
    last = max((e for (b, e), err in zip(kept, errors, strict=True) if not err), default=1)
    return ConversationSequence(tuple(ids[:last]), tuple(kept), tuple(truncated), tuple(errors))


def training_sequence(p: ConversationPieces, max_length: int) -> tuple[list[int], list[int], str]:
    """(input_ids, target_mask, error) of a conversation for fine-tuning.

    The mask is 1 on every answer token and its end-of-turn tokens (a_t + e_t, the eos after the
    last answer included) and 0 on the system prompt, the user turns and the template's text; the
    sequence is cut at `max_length` and after its last target token. A conversation that keeps no
    answer token has no ids and a reason.
    """
    if p.error:
        return [], [], p.error
    ids, spans = _assemble(p, last_end=True)
    mask = [0] * len(ids)
    for t, (begin, end) in enumerate(spans):
        stop = end + (len(p.ends[t]) if p.answers[t] else 0)
        mask[begin:stop] = [1] * (stop - begin)
    ids, mask = ids[:max_length], mask[:max_length]
    if not any(mask):
        first = spans[0][0] if spans else 0
        return (
            [],
            [],
            (
                f"{NO_ROOM_FOR_TARGET}: prefix of {first} tokens leaves no target token within "
                f"max_length={max_length}"
            ),
        )
    last = max(i for i, m in enumerate(mask) if m) + 1
    return ids[:last], mask[:last], ""
