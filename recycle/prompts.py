"""The one renderer of the files in prompts/: teacher prompts, the reverse query, student templates."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from recycle.errors import ConfigError

# Student templates: the authors' (with their with-input forms), and the `_joined` ones, which put
# the input on a new line after the instruction inside the no-input form (what recycle 0.1.0 did).
AUTHORS_TEMPLATES = ("vicuna", "alpaca", "wizardlm")
JOINED_TEMPLATES = tuple(f"{t}_joined" for t in AUTHORS_TEMPLATES)
TEMPLATES = AUTHORS_TEMPLATES + JOINED_TEMPLATES
# Superfiltering's (arXiv 2402.00530) plain form for a small scorer that was never instruction-tuned
# (GPT-2 class): no preamble, no response marker, `{instruction}\n` or `{instruction}\n{input}\n`.
PLAIN_TEMPLATE = "none"
STUDENT_TEMPLATES = TEMPLATES + (PLAIN_TEMPLATE,)
TEACHER_PROMPTS = (
    "reflect_instruction",
    "reflect_response",
    "reflect_response_with_input",
    "judge_pairwise",
)


def prompts_dir() -> Path:
    """The prompts/ folder: the source checkout's, else the copy packed into the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "prompts", here / "_prompts"):
        if (candidate / "templates").is_dir():
            return candidate
    raise FileNotFoundError(f"prompts/ not found next to {here}; reinstall the package")


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(prompts_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


@dataclass(frozen=True)
class ChatPrompt:
    """A rendered teacher prompt: chat messages plus the version of the prompt files."""

    messages: list[dict[str, str]]
    version: str


@cache
def prompt_version(name: str) -> str:
    """Hash of a prompt's files: changes exactly when the prompt text changes."""
    folder = prompts_dir() / name
    if not folder.is_dir():
        raise ConfigError(
            f"unknown prompt {name!r}; known: {', '.join(TEACHER_PROMPTS + ('reverse_query',))}"
        )
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.j2")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def render_chat(name: str, **variables: str) -> ChatPrompt:
    """Render prompts/NAME/{system,user}.j2 into OpenAI chat messages."""
    version = prompt_version(name)
    messages = []
    for role in ("system", "user"):
        if (prompts_dir() / name / f"{role}.j2").is_file():
            text = _env().get_template(f"{name}/{role}.j2").render(**variables)
            messages.append({"role": role, "content": text})
    return ChatPrompt(messages=messages, version=version)


def render_text(name: str, **variables: str) -> str:
    """Render a single-part prompt (prompts/NAME/user.j2) to plain text, e.g. the reverse query."""
    prompt_version(name)
    return _env().get_template(f"{name}/user.j2").render(**variables)


def render_template(template: str, query: str, input_: str = "") -> str:
    """Apply a student prompt template T(q) (prompts/templates/TEMPLATE.j2) to a query.

    `query` is the instruction (or any other query, e.g. the reverse query); a non-empty `input_`
    selects the template's with-input form.
    """
    if template not in STUDENT_TEMPLATES:
        raise ConfigError(
            f"unknown student template {template!r}; use one of {', '.join(STUDENT_TEMPLATES)} or 'chat'"
        )
    return _env().get_template(f"templates/{template}.j2").render(instruction=query, input=input_)


# The multi-turn form of each template family (prompts/templates/turns/), as FastChat renders
# several turns: the answer of turn t is followed by the eos token, then the next user turn.
TURN_TEMPLATES = {
    "vicuna": "vicuna",
    "vicuna_joined": "vicuna",
    "alpaca": "alpaca",
    "alpaca_joined": "alpaca",
    "wizardlm": "wizardlm",
    "wizardlm_joined": "wizardlm",
    PLAIN_TEMPLATE: PLAIN_TEMPLATE,
}


def render_turn(template: str, query: str, system: str = "", first: bool = False) -> str:
    """The prompt of one user turn of a conversation (prompts/templates/turns/FAMILY.j2).

    `first=True` renders the first turn with the conversation's own `system` prompt in place of
    the template's preamble; later turns (`first=False`) come after the previous answer and its
    eos. A first turn without a system prompt is `render_template(template, query)` itself.
    """
    if template not in TURN_TEMPLATES:
        raise ConfigError(
            f"unknown student template {template!r}; use one of {', '.join(TURN_TEMPLATES)} or 'chat'"
        )
    if first and not system:
        return render_template(template, query)
    name = f"templates/turns/{TURN_TEMPLATES[template]}.j2"
    return _env().get_template(name).render(instruction=query, system=system, first=first)
