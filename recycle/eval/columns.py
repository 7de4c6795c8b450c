"""Column and field names of the evaluation stages: the one place they are spelled.

Questions and answers follow AlpacaEval's `model_outputs.json` fields (`instruction`, `output`,
`generator`, `dataset`) plus `input` (empty for most rows), so the files feed other tools as they are.
"""

from __future__ import annotations

# --- a test question / a model answer (AlpacaEval fields + input) ---
DATASET = "dataset"
INSTRUCTION = "instruction"
INPUT = "input"
OUTPUT = "output"
GENERATOR = "generator"
QUESTION_ID = "question_id"  # "<dataset>/<n>": the n-th question of its set, in file order
QUESTION_COLUMNS = (QUESTION_ID, DATASET, INSTRUCTION, INPUT)

# --- generation ---
GENERATION_ERROR = "generation_error"  # "" when the answer was generated
GENERATED_TOKENS = "generated_tokens"

# --- a judged pair (A's point of view) ---
OCCURRENCE = "occurrence"  # n-th time this (dataset, instruction) occurs in its file
ANSWER_A = "answer_a"
ANSWER_B = "answer_b"
REVIEW_FORWARD = "review_forward"  # A as Assistant 1
REVIEW_REVERSE = "review_reverse"  # B as Assistant 1
SCORES_FORWARD = "scores_forward"  # [Assistant 1, Assistant 2] of the forward order
SCORES_REVERSE = "scores_reverse"  # [Assistant 1, Assistant 2] of the reverse order
OUTCOME = "outcome"  # win / tie / lose for A; null when the pair could not be judged
JUDGE_ERROR = "judge_error"  # "" when both orders were answered, else reason: detail
PAIR_COLUMNS = (
    DATASET,
    INSTRUCTION,
    INPUT,
    OCCURRENCE,
    ANSWER_A,
    ANSWER_B,
    REVIEW_FORWARD,
    REVIEW_REVERSE,
    SCORES_FORWARD,
    SCORES_REVERSE,
    OUTCOME,
    JUDGE_ERROR,
)

# --- one judge request (a rendered prompt, deduplicated across pairs and orders) ---
REQUEST_KEY = "request_key"
QUESTION = "question"
ANSWER_1 = "answer_1"
ANSWER_2 = "answer_2"
REVIEW = "review"
REQUEST_COLUMNS = (REQUEST_KEY, QUESTION, ANSWER_1, ANSWER_2)
