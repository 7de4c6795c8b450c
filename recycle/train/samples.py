"""Training samples: instruction rows -> token ids with the shared sequence builder.

The sequence of a sample is exactly the one scoring builds for loss_y_given_x (IFD's numerator):
[start] + tok(T(x)) + tok(y) + [eos], cut at the end of the response to fit `max_length`. The
eos is part of the target, so the model learns to stop. A sample that keeps no response token
carries the builder's reason and is left out of training (counted, never silently).

A conversation row (its `messages` set, data/normalize.py) is the sequence per-turn scoring
builds (student/turn_sequences.py), with a target mask: 1 on every assistant turn's tokens and
the end of each turn (the eos, or the chat template's end-of-turn text), 0 on the system prompt,
the user turns and the template's own text: the model learns every answer and nothing else.
Single-turn rows keep `target_start` alone (their mask column is empty), as before.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from recycle import columns as C
from recycle.data.conversation import parse
from recycle.storage import local_folder
from recycle.student.sequences import build_sequence, prompt_prefix
from recycle.student.turn_sequences import conversation_pieces, training_sequence

STAGE = "train_tokenize"
READS = (C.SAMPLE_ID, C.INSTRUCTION, C.INPUT, C.OUTPUT)
WRITES = (C.SAMPLE_ID, C.INPUT_IDS, C.TARGET_START, C.TRAIN_ERROR, C.TARGET_MASK)


def tokenize_samples(
    tokenizer: Any,
    instructions: Sequence[str],
    inputs: Sequence[str | None],
    outputs: Sequence[str],
    template: str,
    max_length: int,
) -> tuple[list[list[int]], list[int], list[str]]:
    """Token ids, first-target index and error reason of each sample.

    Returns:
        (input_ids, target_start, error) lists, one entry per sample; error is "" when the
        sample keeps at least one response token.
    """
    ids, starts, errors = [], [], []
    for instruction, input_, output in zip(instructions, inputs, outputs, strict=True):
        prefix = prompt_prefix(template, instruction, tokenizer, input_ or "")
        seq = build_sequence(tokenizer, prefix, output, max_length, add_eos=True)
        ids.append(list(seq.input_ids))
        starts.append(seq.target_start)
        errors.append(seq.error)
    return ids, starts, errors


def tokenize_conversations(
    tokenizer: Any, messages: Sequence[str], template: str, max_length: int
) -> tuple[list[list[int]], list[list[int]], list[str]]:
    """Token ids, target mask (1 on assistant tokens) and error reason of each conversation.

    Args:
        messages: the `messages` cells (JSON text) of conversation rows.

    Returns:
        (input_ids, target_mask, error) lists, one entry per conversation.
    """
    pieces = conversation_pieces(tokenizer, template, [parse(m) for m in messages])
    out = [training_sequence(p, max_length) for p in pieces]
    return [o[0] for o in out], [o[1] for o in out], [o[2] for o in out]


def _tokenized_rows(
    tokenizer: Any, rows: pa.Table, template: str, max_length: int
) -> list[tuple[list[int], int, str, list[int]]]:
    """(input_ids, target_start, error, target_mask) of each kept row, in order; the mask is []
    for a single-turn row."""
    messages = (
        rows[C.MESSAGES].to_pylist() if C.MESSAGES in rows.column_names else [None] * rows.num_rows
    )
    single = [i for i, m in enumerate(messages) if not m]
    texts = [rows[c].to_pylist() for c in (C.INSTRUCTION, C.INPUT, C.OUTPUT)]
    ids, starts, errors = tokenize_samples(
        tokenizer, *([col[i] for i in single] for col in texts), template, max_length
    )
    out: list[Any] = [None] * rows.num_rows
    for i, x, t, e in zip(single, ids, starts, errors, strict=True):
        out[i] = (x, t, e, [])
    chats = [i for i, m in enumerate(messages) if m]
    cids, masks, cerrors = tokenize_conversations(
        tokenizer, [messages[i] for i in chats], template, max_length
    )
    for i, x, m, e in zip(chats, cids, masks, cerrors, strict=True):
        out[i] = (x, m.index(1) if e == "" else 0, e, m)
    return out


class TokenizeForTraining:
    """Ray Data adapter: loads the student tokenizer once, tokenizes pyarrow batches.

    Rows with an outcome other than kept (rejected by validation) come out with no tokens and
    the error `rejected_<reason>`, so that they are counted with the other left-out samples.

    Args:
        model: local path (or hub id) of the student whose tokenizer is used.
        template: the student prompt template (the one scoring used).
        max_length: longest sequence kept; longer responses are cut at their end.
    """

    def __init__(self, model: str, template: str, max_length: int):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(local_folder(model))
        self.template, self.max_length = template, max_length

    def __call__(self, batch: pa.Table) -> pa.Table:
        C.require_columns(STAGE, batch.column_names, READS)
        kept = _kept_mask(batch)
        rows = batch.filter(pa.array(kept))
        it = iter(_tokenized_rows(self.tokenizer, rows, self.template, self.max_length))
        reasons = (
            batch[C.REASON].to_pylist() if C.REASON in batch.column_names else [""] * batch.num_rows
        )
        out = [
            next(it) if k else ([], 0, f"rejected_{r}: invalid row", [])
            for k, r in zip(kept, reasons, strict=True)
        ]
        return pa.table(
            {
                C.SAMPLE_ID: batch[C.SAMPLE_ID],
                C.INPUT_IDS: pa.array([o[0] for o in out], type=pa.list_(pa.int32())),
                C.TARGET_START: pa.array([o[1] for o in out], type=pa.int32()),
                C.TRAIN_ERROR: pa.array([o[2] for o in out], type=pa.string()),
                C.TARGET_MASK: pa.array([o[3] for o in out], type=pa.list_(pa.int8())),
            }
        )


@functools.lru_cache(maxsize=4)
def _tokenizer_stage(model: str, template: str, max_length: int) -> TokenizeForTraining:
    return TokenizeForTraining(model, template, max_length)


def tokenize_batch(batch: pa.Table, model: str, template: str, max_length: int) -> pa.Table:
    """Task form of `TokenizeForTraining` for `map_batches`: the tokenizer is loaded once per
    worker process and reused by every later task there (no actor pool to start, which is what
    dominates on small datasets)."""
    return _tokenizer_stage(model, template, max_length)(batch)


def _kept_mask(batch: pa.Table) -> list[bool]:
    """Rows to tokenize: all, or those whose outcome column says kept."""
    if C.OUTCOME not in batch.column_names:
        return [True] * batch.num_rows
    return C.kept_mask(batch[C.OUTCOME].to_pylist()).tolist()


def error_counts(errors: Sequence[str]) -> dict[str, int]:
    """Count of left-out samples per reason category (the text before ':')."""
    counts: dict[str, int] = {}
    for err in errors:
        if err:
            reason = err.split(":", 1)[0]
            counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items()))
