"""`recycle config show [CONFIG] [key=value ...]`: the resolved config, each key with its meaning.

The output is YAML with each key's description as a comment above it, so it can be saved and
edited as a config. Everything is read from the pydantic models, so a section or key added to
`recycle/config/` shows up here (and in every command's --help) without touching this file.
"""

from __future__ import annotations

import argparse
import textwrap
import types
import typing
from typing import Any

import yaml
from pydantic import BaseModel

from recycle.commands.entry import Face, add_config_arguments, always_ok, config_from_args
from recycle.config import RecycleConfig, redacted

UNIONS = (typing.Union, types.UnionType)
REFERENCE = "README.md#configuration-reference"
COMMENT_WIDTH = 96


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="show", required=True)
    show = actions.add_parser(
        "show",
        help="print the resolved config with each key's description",
        description="Print the resolved config (defaults, then the YAML file, then overrides) "
        "as YAML, each key with its description; secrets are redacted.",
    )
    add_config_arguments(show)
    show.add_argument(
        "--cluster",
        metavar="SHAPE",
        help="then the plans of `recycle run` and `recycle train` on a cluster of this shape, as "
        "comments: NODESxGPUS[:TYPE][/CPUS] joined by + (e.g. 2x8:H100, 1x0/16+2x8:H100/96); a "
        "plan that cannot run is refused (exit 2)",
    )


def planned(cfg: RecycleConfig, shape: str | None) -> str:
    """The plans on a cluster of `shape` as YAML comments ("" without a shape)."""
    from recycle.pipeline.plan import plans_on_shape

    return "".join(f"# {line}\n" for line in plans_on_shape(cfg, shape)) if shape else ""


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside a field's type (`X`, `X | None`), or None for plain values."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) in UNIONS else ()
    for candidate in (annotation, *args):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def describe(model: type[BaseModel], name: str) -> str:
    """A field's description, or the first line of its section's docstring."""
    field = model.model_fields[name]
    if field.description:
        return field.description
    inner = section_model(field.annotation)
    return (inner.__doc__ or "").strip().splitlines()[0] if inner and inner.__doc__ else ""


def section_lines() -> list[str]:
    """`name: what it holds`, one line per top-level config section."""
    return [f"  {n:<10} {describe(RecycleConfig, n)}" for n in RecycleConfig.model_fields]


def help_epilog() -> str:
    """What every command's --help ends with: the config sections and where to read more."""
    return "\n".join(
        [
            "config sections (set keys as SECTION.KEY=VALUE or in a YAML file):",
            *section_lines(),
            "",
            "every key, its default and its meaning: recycle config show [CONFIG] [key=value ...]",
            f"reference: {REFERENCE}",
        ]
    )


def render(cfg: RecycleConfig) -> str:
    """The config as commented YAML: each key preceded by its description."""
    return "".join(_lines(RecycleConfig, redacted(cfg), 0))


def _lines(model: type[BaseModel], values: dict[str, Any], depth: int) -> list[str]:
    out = []
    pad = "  " * depth
    for name in model.model_fields:
        text = describe(model, name)
        out += [f"{pad}# {line}\n" for line in textwrap.wrap(text, COMMENT_WIDTH - len(pad))]
        value = values.get(name)
        inner = section_model(model.model_fields[name].annotation)
        if inner is not None and isinstance(value, dict):
            out.append(f"{pad}{name}:\n")
            out += _lines(inner, value, depth + 1)
        else:
            out.append(f"{pad}{name}: {_scalar(value)}\n")
        if depth == 0:
            out.append("\n")
    return out


def _scalar(value: Any) -> str:
    """One-line YAML for a value (dicts and lists in flow style)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


FACE = Face(
    name="config",
    help="print the resolved config with each key's description (config show)",
    arguments=add_arguments,
    run=lambda request: render(request.cfg) + planned(request.cfg, request.args.cluster),
    summary=lambda request, text, log_file: [text.rstrip("\n")],
    exit=always_ok,
    config=lambda args, settings: config_from_args(args),  # as given: ray.quiet is not set
    log_dir=lambda request: None,
    words=lambda args: ("config", args.action),
)
