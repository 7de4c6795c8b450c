"""Load a config from YAML plus dotted command-line overrides, and explain what is wrong with it."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from recycle.config.root import RecycleConfig
from recycle.errors import ConfigError

# Keys whose values are never written out (the key itself lives in the environment; this is a
# guard in case a user pastes one into a config anyway): *api_key, *secret, *password, *_token,
# when the value is text. A number is never a secret: `teacher.chars_per_token` stays readable.
SECRET_KEY = re.compile(r"(api_key|secret|password|(^|_)token)$")
Section = TypeVar("Section", bound=BaseModel)


def as_config(cls: type[Section], value: Section | dict[str, Any]) -> Section:
    """A config section as `cls`: as it is when it is one, validated when it is its dict form (as a
    Ray actor's or task's arguments arrive)."""
    return value if isinstance(value, cls) else cls.model_validate(value)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split `a.b.c=value` into its key path and a YAML-typed value (`1` -> int, `null` -> None)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"override {item!r} is not of the form key=value (e.g. teacher.model=gpt-4o)"
        )
    value = yaml.safe_load(raw) if raw.strip() else ""
    return key.strip().split("."), value


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set each dotted override into a nested dict, creating sections as needed."""
    for item in overrides:
        path, value = parse_override(item)
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
            node = child
        node[path[-1]] = value
    return tree


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict; an empty file is an empty config."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"config file {str(p)!r} does not exist; pass the path of a YAML file such as jobs/configs/demo.yaml"
        )
    try:
        tree = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {err}") from None
    if not isinstance(tree, dict):
        raise ConfigError(
            f"config file {str(p)!r} must hold a mapping of sections, got {type(tree).__name__}"
        )
    return tree


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> RecycleConfig:
    """Build a validated config from an optional YAML file and `key=value` overrides.

    Raises:
        ConfigError: naming the offending key and how to fix it.
    """
    tree = read_yaml(path) if path else {}
    tree = apply_overrides(tree, list(overrides or []))
    try:
        return RecycleConfig.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(explain(err)) from None


def explain(err: ValidationError) -> str:
    """Turn a pydantic error into lines that name each key, the problem and a fix."""
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            hint = _did_you_mean(e["loc"])
            lines.append(f"unknown config key {key!r}{hint}")
        else:
            lines.append(f"config key {key!r}: {e['msg']} (got {e.get('input')!r})")
    return "; ".join(lines)


def _did_you_mean(loc: tuple) -> str:
    model: type[BaseModel] = RecycleConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            return ""
        model = field.annotation
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    if close:
        return f" (did you mean {'.'.join([*map(str, loc[:-1]), close[0]])!r}?)"
    return f" (known keys here: {', '.join(model.model_fields)})"


def redacted(cfg: RecycleConfig) -> dict[str, Any]:
    """The resolved config as plain data, safe to write to a manifest or job metadata."""
    return scrub_secrets(cfg.model_dump(mode="json"))


def scrub_secrets(node: Any) -> Any:
    """Plain data (dicts, lists) with the text under secret-looking keys replaced by <redacted>."""
    if isinstance(node, dict):
        return {
            k: ("<redacted>" if _is_secret(k) and isinstance(v, str) else scrub_secrets(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [scrub_secrets(v) for v in node]
    return node


def _is_secret(key: str) -> bool:
    return bool(SECRET_KEY.search(key.lower()))
