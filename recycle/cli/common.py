"""Arguments every subcommand shares: a config file, dotted overrides, --input and --output."""

from __future__ import annotations

import argparse

from recycle.config import RecycleConfig, load_config
from recycle.errors import ConfigError
from recycle.preflight import Check, run_preflight


def add_config_arguments(parser: argparse.ArgumentParser, io: bool = True) -> None:
    """`[CONFIG.yaml] [key=value ...]`, plus `--input/--output` shortcuts when `io`."""
    parser.add_argument(
        "settings",
        nargs="*",
        metavar="[CONFIG.yaml] [key=value ...]",
        help="an optional YAML config, then dotted overrides such as teacher.model=gpt-4o",
    )
    if io:
        parser.add_argument("--input", help="input dataset (same as data.input=...)")
        parser.add_argument("--output", help="run directory (same as output.dir=...)")
    parser.add_argument(
        "--no-preflight",
        action="store_true",
        help="skip the start-up checks of input, output, student and endpoints",
    )


def checked_config(args: argparse.Namespace, checks: tuple[Check, ...]) -> RecycleConfig:
    """The resolved config, after the command's pre-flight `checks` (recycle.commands.needs)
    unless --no-preflight; the command's entry point is then called with preflight=False.

    Runs before Ray or torch is imported, so a wrong path, key or endpoint fails in seconds.
    """
    cfg = config_from_args(args)
    cfg.ray.quiet = console_is_quiet(args)
    if not getattr(args, "no_preflight", False):
        run_preflight(cfg, checks)
    return cfg


def console_is_quiet(args: argparse.Namespace) -> bool:
    """ray.quiet for a command-line run: Ray's lines off the console unless --verbose."""
    return not getattr(args, "verbose", False)


def preflight_options(
    args: argparse.Namespace,
    output: str | None = None,
    models: dict[str, str | None] | None = None,
    files: dict[str, str | None] | None = None,
) -> None:
    """Pre-flight of what a command takes as options rather than config keys: an output folder,
    model folders and input files, each named by its option (unless --no-preflight)."""
    if getattr(args, "no_preflight", False):
        return
    from recycle.preflight import check_file, check_model_path, check_output

    if output:
        check_output(output, "--output")
    for key, model in (models or {}).items():
        check_model_path(model, key)
    for key, path in (files or {}).items():
        if path:
            check_file(path, key)


def config_from_args(args: argparse.Namespace) -> RecycleConfig:
    """Resolve the config: the YAML file, then overrides, then --input/--output."""
    files = [s for s in args.settings if "=" not in s]
    overrides = [s for s in args.settings if "=" in s]
    if len(files) > 1:
        raise ConfigError(
            f"expected at most one config file, got {files}; overrides look like key=value"
        )
    if getattr(args, "input", None):
        overrides.append(f"data.input={args.input}")
    if getattr(args, "output", None):
        overrides.append(f"output.dir={args.output}")
    return load_config(files[0] if files else None, _quoted(overrides))


def _quoted(overrides: list[str]) -> list[str]:
    """Paths given through --input/--output stay strings even if they look like YAML."""
    out = []
    for item in overrides:
        key, _, value = item.partition("=")
        if key in ("data.input", "output.dir") and value and not value.startswith(("'", '"')):
            value = "'" + value.replace("'", "''") + "'"
        out.append(f"{key}={value}")
    return out
