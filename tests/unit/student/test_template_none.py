"""`student.template=none`: Superfiltering's plain prompt for a small scorer, token by token.

Superfiltering (arXiv 2402.00530; the authors' code_ifd/data_analysis.py, PROMPT_DICT_NONE)
scores with `{instruction}\\n` (no input) or `{instruction}\\n{input}\\n` followed directly by the
response. Here the prefix and the response are tokenized apart, as for every template, and the
loss covers the response's tokens only; a tokenizer without bos starts with its eos.
"""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError
from transformers import AutoTokenizer

from recycle.config.student import StudentConfig
from recycle.student.model import load_student
from recycle.student.planning import IFD_KIND, RIFD_KIND, plan_pairs
from recycle.student.scoring import score_columns
from recycle.student.sequences import prompt_prefix, reverse_query, rifd_target
from recycle.student.variants import Variant
from tests.support.tiny_gpt2 import build_tiny_gpt2

ROWS = {
    "instruction": ["Sort the list.", "Name a colour."],
    "input": ["3, 1, 2", ""],
    "output": ["1, 2, 3", "Blue."],
}
# The authors' format, written out: with an input, and without one.
PLAIN = ["Sort the list.\n3, 1, 2\n", "Name a colour.\n"]


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def test_prefix_is_superfilterings_plain_format():
    assert prompt_prefix("none", "Name a colour.") == PLAIN[1]
    assert prompt_prefix("none", "Sort the list.", input_="3, 1, 2") == PLAIN[0]
    assert rifd_target("none", "Sort the list.", "3, 1, 2") == "Sort the list.3, 1, 2"
    assert StudentConfig(template="none").template == "none"
    with pytest.raises(ValidationError, match="template"):
        StudentConfig(template="gpt2")


@pytest.mark.parametrize("fixture", ["tiny_tokenizer_dir", "tiny_model_no_bos_dir"])
def test_the_response_tokens_are_the_only_target(fixture, request):
    tok = AutoTokenizer.from_pretrained(request.getfixturevalue(fixture))
    has_bos = fixture == "tiny_tokenizer_dir"
    assert (tok.bos_token_id is not None) == has_bos
    start = tok.bos_token_id if has_bos else tok.eos_token_id  # no bos: eos starts every sequence
    jobs = plan_pairs(tok, "none", 512, ROWS, [Variant(rifd=True)], [0, 1])
    by = {(j.row, j.kind): j for j in jobs}
    for row, y in enumerate(ROWS["output"]):
        ifd = by[(row, IFD_KIND)]
        assert ifd.cond.input_ids == (start, *ids(tok, PLAIN[row]), *ids(tok, y))
        assert ifd.cond.target_start == 1 + len(ids(tok, PLAIN[row]))
        assert ifd.cond.target_ids == tuple(ids(tok, y)) == ifd.uncond.target_ids
        assert ifd.uncond.input_ids == (start, *ids(tok, y))
    rifd = by[(0, RIFD_KIND)]  # r-IFD: T(reverse_query(y)) -> x, x = instruction + input
    x = ids(tok, "Sort the list.3, 1, 2")
    assert rifd.cond.input_ids == (start, *ids(tok, reverse_query("1, 2, 3") + "\n"), *x)
    assert rifd.cond.target_ids == tuple(x) and rifd.uncond.input_ids == (start, *x)


@pytest.fixture(scope="module")
def gpt2_dir(tiny_artifacts, tiny_model_no_bos_dir):
    return build_tiny_gpt2(tiny_artifacts, tiny_model_no_bos_dir)


@pytest.mark.parametrize("fixture", ["tiny_model_no_bos_dir", "gpt2_dir"])
def test_any_small_causal_lm_scores_like_the_reference(fixture, request, reference):
    """A Llama and a GPT-2, both with a tokenizer without bos or pad, score with template none."""
    cfg = StudentConfig(
        model=str(request.getfixturevalue(fixture)), template="none", max_length=256
    )
    model, tok = load_student(cfg)
    assert tok.bos_token_id is None and tok.pad_token_id is None
    out, _ = score_columns(model, tok, ROWS, [Variant(rifd=True)], cfg)
    jobs = plan_pairs(tok, "none", 256, ROWS, [Variant(rifd=True)], [0, 1])
    for j in jobs:
        assert j.cond.input_ids[0] == tok.eos_token_id  # no bos: sequences start with eos
        cond, uncond = reference(model, j.cond), reference(model, j.uncond)
        name = (
            ("loss_y_given_x", "loss_y", "ifd")
            if j.kind == IFD_KIND
            else ("loss_x_given_y", "loss_x", "rifd")
        )
        assert out[name[0]][j.row] == pytest.approx(cond, abs=1e-5)
        assert out[name[1]][j.row] == pytest.approx(uncond, abs=1e-5)
        assert out[name[2]][j.row] == pytest.approx(math.exp(cond - uncond), rel=1e-4)
    assert not any(out["score_error"])
