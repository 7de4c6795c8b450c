"""The words the report uses, in one place, so every table, caption and summary says the same.

- a rewrite is *reflected* when the teacher answered and its answer was parsed;
- a rewrite is *taken* when the student chose it over the text it had (step 2: higher IFD wins,
  step 4: lower r-IFD wins);
- a sample is *kept* when it passed the final filter and is in the dataset, *dropped* when a
  selection rule removed it, *rejected* when it could not be processed.
"""

from __future__ import annotations

GLOSSARY = (
    ("reflected", "the teacher's rewrite came back and was parsed"),
    (
        "taken",
        "the student chose the rewrite over the text it had (instruction: higher IFD wins; "
        "response: lower r-IFD wins)",
    ),
    ("kept", "the sample passed the final filter and is in the dataset"),
    ("dropped", "a selection rule removed the sample"),
    ("rejected", "the sample could not be processed (bad row, failed teacher call, budget)"),
)

# reason code -> what it means, for drop and reject reasons the pipeline writes
REASON_TEXT = {
    "": "passed every rule",
    "response_not_reflected": "the student did not take a rewritten response (the authors keep "
    "only samples whose response was rewritten)",
    "ifd_not_below_one": "IFD >= 1: the instruction does not help the student predict the response",
    "rifd_not_below_one": "r-IFD >= 1: the response does not help the student recover the instruction",
    "unscored": "the student could not score the sample (too long or empty after the template)",
    "below_topk": "IFD below the top-k cut",
    "teacher_bad_request": "the teacher refused the request (e.g. context too long); not retried",
    "teacher_unavailable": "the teacher did not answer within the retries (429, 5xx, timeouts)",
    "budget": "teacher.max_cost_usd was reached before the sample was sent",
    "unparseable_json": "the input line is not valid JSON",
    "not_an_object": "the input row is not a JSON object",
    "missing_field": "the input row lacks an instruction or a response",
    "non_string_field": "a field of the input row is not text",
    "empty_instruction": "the instruction is empty",
    "empty_output": "the response is empty",
    "multi_turn": "a multi-turn conversation (one instruction and one response are needed)",
    "bad_conversation": "the conversation could not be read as instruction and response",
    "duplicate": "the same instruction, input and response appeared earlier in the input",
}

PIE_LABELS = (
    "both rewrites taken",
    "rewritten instruction only",
    "rewritten response only",
    "neither (original kept)",
)

CAPTIONS = {
    "outcomes": "Which of the teacher's rewrites the student took, per sample scored (whether or not "
    "it was kept later): step 2 takes the rewritten instruction when its IFD is higher, step 4 "
    "the rewritten response when its r-IFD is lower.",
    "ifd": "IFD = ppl(response | instruction) / ppl(response). Below 1 the instruction helps the "
    "student predict the response; among those, higher means a harder, more useful instruction. "
    "The dashed line is 1.0, the final filter's cut: samples at or right of it are dropped.",
    "rifd": "r-IFD = ppl(instruction | response) / ppl(instruction). Lower is better: the response "
    "says more about what was asked. The dashed line is 1.0, the final filter's cut: samples at "
    "or right of it are dropped.",
    "scatter": "Each point is a scored sample's final pair. The keep region is bottom-left of the "
    "dashed 1.0 lines (IFD < 1 and r-IFD < 1); an orange point inside it was dropped because the "
    "student did not take a rewritten response, which the authors' filter requires.",
}

TABLE6_COLUMNS = {
    "samples": "samples",
    "unscored": "unscored",
    "instruction_tokens": "instruction tokens (mean)",
    "response_tokens": "response tokens (mean)",
    "ppl_x": "ppl(x)",
    "ppl_y": "ppl(y)",
    "ppl_y_given_x": "ppl(y|x)",
    "coherence": "coherence",
    "ifd": "IFD (mean)",
    "rifd": "r-IFD (mean)",
}


def reason_text(code: str | None) -> str:
    """What a reason code means, or the code itself when it is new to the report."""
    return REASON_TEXT.get(code or "", code or "")
