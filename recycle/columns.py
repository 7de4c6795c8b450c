"""Column names of the dataset as it flows through the pipeline: the one place they are spelled.

Stages name the columns they read and write from here; `require_columns` checks them on entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

# --- normalized sample (data/normalize.py) ---
SAMPLE_ID = (
    "sample_id"  # content hash of (instruction, input, output): stable across reorder/resume
)
INSTRUCTION = "instruction"
INPUT = "input"
OUTPUT = "output"
SOURCE = "source"  # where the raw row came from: "path:index"
SAMPLE_COLUMNS = (SAMPLE_ID, INSTRUCTION, INPUT, OUTPUT, SOURCE)
# A conversation (several exchanges, or one with a system prompt) as JSON text: a list of
# {"role": "system" | "user" | "assistant", "content": str}; null on a single-turn row. Such a
# row's instruction / output hold its last exchange (data/normalize.py).
MESSAGES = "messages"

# --- outcome of a row (every stage that can reject or drop sets these) ---
OUTCOME = "outcome"  # one of OUTCOME_KEPT / OUTCOME_DROPPED / OUTCOME_REJECTED
REASON = "reason"  # machine-readable reason category for a drop or a reject, "" when kept
DETAIL = "detail"  # human-readable detail of the reason
STAGE = "stage"  # stage that dropped or rejected the row
RAW = "raw"  # the raw input row as JSON text (rejects keep it so nothing is lost)
OUTCOME_KEPT = "kept"
OUTCOME_DROPPED = "dropped"
OUTCOME_REJECTED = "rejected"
OUTCOMES = (OUTCOME_KEPT, OUTCOME_DROPPED, OUTCOME_REJECTED)
OUTCOME_COLUMNS = (OUTCOME, REASON, DETAIL, STAGE)
# Transient reject reasons: not the sample's fault; a rerun of the same command retries them (the
# run directory keeps these rows apart, in retry/). Set by the teacher stages (teacher/errors.py).
REASON_TEACHER_UNAVAILABLE = "teacher_unavailable"  # 429 / 5xx / timeouts past max_retries
REASON_BUDGET = "budget"  # teacher.max_cost_usd reached before this sample was sent
TRANSIENT_REASONS = frozenset({REASON_TEACHER_UNAVAILABLE, REASON_BUDGET})

# --- teacher reflection (teacher/) ---
NEW_INSTRUCTION = "new_instruction"
NEW_INPUT = "new_input"
NEW_OUTPUT = "new_output"
BETTER_OUTPUT = "better_output"
REFLECT_INSTRUCTION_STATUS = "reflect_instruction_status"
REFLECT_RESPONSE_STATUS = "reflect_response_status"
REFLECT_INSTRUCTION_RAW = "reflect_instruction_raw"
REFLECT_RESPONSE_RAW = "reflect_response_raw"
REFLECT_INSTRUCTION_TRUNCATED = (
    "reflect_instruction_truncated"  # response cut to fit the teacher's context
)
REFLECT_RESPONSE_TRUNCATED = "reflect_response_truncated"  # idem, for response reflection

# --- student scores (student/) ---
LOSS_Y_GIVEN_X = "loss_y_given_x"
LOSS_Y = "loss_y"
LOSS_X_GIVEN_Y = "loss_x_given_y"
LOSS_X = "loss_x"
IFD = "ifd"
RIFD = "rifd"
SCORE_ERROR = "score_error"

# --- fine-tuning rows (train/) ---
INPUT_IDS = "input_ids"  # token ids of a training sequence or packed row
TARGET_START = "target_start"  # index of the first response token of a tokenized sample
TRAIN_ERROR = "train_error"  # why a sample cannot be trained on ("" when it can)
POSITION_IDS = "position_ids"  # per-sample positions; 0 starts a new sample in a packed row
TARGET_MASK = "target_mask"  # 1 on response tokens (the loss is taken on them), else 0
EPOCH = "epoch"
STEP = "step"  # optimizer step (1-based) a training row belongs to
MICRO = "micro"  # micro-batch index of a row within its worker's step
Y_TOKENS = "y_tokens"  # response tokens scored by loss_y_given_x and loss_y (after any cut)
X_TOKENS = "x_tokens"  # instruction tokens scored by loss_x_given_y and loss_x (after any cut)
SCORE_TRUNCATED = "score_truncated"  # a scored target was cut at its end to fit student.max_length

# --- conversation scores (student/turns.py): one list entry per assistant turn ---
TURNS_LOSS_Y_GIVEN_X = "turns_loss_y_given_x"  # answer t given system + earlier turns + user t
TURNS_LOSS_Y = "turns_loss_y"  # answer t alone
TURNS_LOSS_X_GIVEN_Y = "turns_loss_x_given_y"  # user t given the reverse query of answer t
TURNS_LOSS_X = "turns_loss_x"  # user t alone
TURNS_IFD = "turns_ifd"
TURNS_RIFD = "turns_rifd"
TURNS_Y_TOKENS = "turns_y_tokens"  # answer tokens scored (after any cut)
TURNS_X_TOKENS = "turns_x_tokens"  # user tokens scored (after any cut)
TURNS_TRUNCATED = "turns_truncated"
TURNS_SCORE_ERROR = "turns_score_error"  # "" where turn t was scored, else the reason
# Aggregates over a conversation's scored turns: token-weighted mean (weights: y_tokens for IFD,
# x_tokens for r-IFD) and max; NaN when no turn could be scored.
IFD_MEAN = "ifd_mean"
IFD_MAX = "ifd_max"
RIFD_MEAN = "rifd_mean"
RIFD_MAX = "rifd_max"
N_TURNS = "n_turns"  # assistant turns of the conversation

# Turn rows of the reflection stream (pipeline/turns.py): a conversation exploded into one row per
# reflected turn, instruction/output = (u_t, a_t); reassembled into one row before the export.
CONVERSATION_ID = "conversation_id"  # sample_id of the conversation a turn row comes from
TURN_INDEX = "turn_index"  # 0-based index t of the turn in its conversation
TURN_COUNT = "turn_count"  # assistant turns of that conversation
TURN_HISTORY = "turn_history"  # JSON messages before turn t: system + ORIGINAL earlier turns
FINAL_MESSAGES = "final_messages"  # JSON messages of a reassembled conversation: final turns
TURNS_REFLECTED = "turns_reflected"  # turns of a conversation that went through reflection
TURNS_REWRITTEN = "turns_rewritten"  # of those, turns whose final text is a teacher rewrite


def kept_mask(outcomes: Any) -> np.ndarray:
    """(N,) bool: True where a row's OUTCOME is kept, i.e. still in play (a pandas Series, an Arrow
    column or a list of outcomes)."""
    return np.asarray(outcomes, dtype=object) == OUTCOME_KEPT


def require_columns(stage: str, present: Iterable[str], required: Iterable[str]) -> None:
    """Raise a KeyError naming the stage and every missing column.

    Args:
        stage: name of the stage doing the check, for the message.
        present: the columns the batch has.
        required: the columns the stage reads.
    """
    have = set(present)
    missing = [c for c in required if c not in have]
    if missing:
        raise KeyError(
            f"stage {stage!r} needs column(s) {missing} but the batch has {sorted(have)}; "
            "run the stage that produces them first"
        )


# --- pipeline: variants scored, choices made, final pair (pipeline/, select/) ---
# Score columns of a variant are PREFIX + base name, e.g. "orig_ifd", "res_loss_x_given_y".
ORIG = "orig_"  # (x0, y0): the input sample
INS = "ins_"  # (x_ins, y_ins): the instruction-reflected pair
PAIR1 = "pair1_"  # (x1, y1): the pair chosen at step 2
RES = "res_"  # (x1, y_res): the response-reflected pair
INSTRUCTION_1 = "instruction_1"  # x1 = instruction_1 (+ "\n" + input_1 when non-empty)
INPUT_1 = "input_1"
OUTPUT_1 = "output_1"
FINAL_INSTRUCTION = "final_instruction"  # x2
FINAL_INPUT = "final_input"
FINAL_OUTPUT = "final_output"  # y2
FINAL_IFD = "final_ifd"
FINAL_RIFD = "final_rifd"
INSTRUCTION_REFLECTED = "instruction_reflected"  # step 2 took the reflected instruction
RESPONSE_REFLECTED = "response_reflected"  # step 4 took the reflected response
COHERENCE = "coherence"  # cosine of Sentence-BERT embeddings of x and y (ablation)


def scored(prefix: str, base: str) -> str:
    """Name of a score column of one variant, e.g. scored(ORIG, IFD) == "orig_ifd"."""
    return f"{prefix}{base}"
