import jinja2
import pytest

from recycle.errors import ConfigError
from recycle.prompts import (
    TEACHER_PROMPTS,
    TEMPLATES,
    prompt_version,
    render_chat,
    render_template,
    render_text,
)

VARS = {
    "reflect_instruction": {"instruction": "Name a color.", "output": "Blue."},
    "reflect_response": {"instruction": "Name a color.", "output": "Blue."},
    "reflect_response_with_input": {"instruction": "Sort.", "input": "3 1 2", "output": "1 2 3"},
    "judge_pairwise": {"question": "Q?", "answer_1": "A1", "answer_2": "A2"},
}


@pytest.mark.parametrize("name", TEACHER_PROMPTS)
def test_each_teacher_prompt_renders(name):
    p = render_chat(name, **VARS[name])
    assert [m["role"] for m in p.messages] == ["system", "user"]
    for value in VARS[name].values():
        assert value in p.messages[1]["content"]
    assert len(p.version) == 12 and p.version == prompt_version(name)


def test_markers_the_parsers_expect_are_in_the_prompts():
    assert (
        "[New Instruction] your instruction [End]"
        in render_chat("reflect_instruction", **VARS["reflect_instruction"]).messages[1]["content"]
    )
    assert (
        "[Better Answer] your answer [End]"
        in render_chat("reflect_response", **VARS["reflect_response"]).messages[1]["content"]
    )


def test_missing_variable_is_an_error():
    with pytest.raises(jinja2.UndefinedError):
        render_chat("reflect_instruction", instruction="only this")


def test_reverse_query_is_the_design_text():
    text = render_text("reverse_query", response="Paris.")
    assert text == (
        "Below is the response to an instruction, please guess the corresponding instruction "
        "for the given response.\nParis.\nGenerate the instruction for the above response."
    )


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_student_template_renders(template):
    out = render_template(template, "What is 2+2?")
    assert "What is 2+2?" in out and not out.endswith("\n")


def test_vicuna_template_exact():
    assert render_template("vicuna", "Hi").endswith("USER: Hi ASSISTANT:")


def test_unknown_template_and_prompt():
    with pytest.raises(ConfigError, match="unknown student template"):
        render_template("llama9", "q")
    with pytest.raises(ConfigError, match="unknown prompt"):
        prompt_version("no_such_prompt")
