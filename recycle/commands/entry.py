"""The one way in: every entry reaches `call`, the command line and the `jobs/` scripts `enter`.

    config -> pre-flight (the cheap checks, before Ray) -> run log -> the command -> summary
    -> exit code

A command's `Face` is its whole face to a user: its arguments, its pre-flight declaration
(recycle.commands.needs), the library call, the lines it prints, its exit policy and where its
run log goes. The command line (recycle.cli.main, one `Face` per subcommand), each `jobs/`
script (which hands its arguments to the command line) and `recycle.api` for notebooks go
through `call`; the command line and the jobs then print the summary and turn the outcome into
the exit status of recycle/exit_codes.py (0 done, 2 config / input / pre-flight, 3 samples left
for a rerun, 4 teacher outage, 130 Ctrl-C), `recycle.api` returns the result or raises.

How a run is started is passed, never ambient: `Settings` (pre-flight on or off, a quiet
console) becomes a copy of the config (ray.quiet) and a `Preflight` policy that marks the
entry's checks done; nested runs (end-to-end's training and evaluation, the evaluation's
generations and judge) inherit the policy, so --no-preflight reaches them.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from recycle import exit_codes
from recycle.columns import TRANSIENT_REASONS
from recycle.config import RecycleConfig, load_config
from recycle.errors import ConfigError, RecycleError
from recycle.logs import run_log
from recycle.preflight import Check, Preflight
from recycle.teacher.errors import TeacherOutageError


@dataclass(frozen=True)
class Settings:
    """How an entry starts a run.

    Attributes:
        preflight: run the pre-flight checks (--no-preflight: False); nested runs inherit it.
        quiet: Ray's lines and native output to the run log, not the console (the command line
            unless --verbose); None: as the config's ray.quiet says (notebooks).
    """

    preflight: bool = True
    quiet: bool | None = None


@dataclass(frozen=True)
class Request:
    """One call of a command: its parsed arguments, its config (a copy, never the caller's
    object changed), the pre-flight policy with the entry's checks done, and the settings."""

    args: argparse.Namespace
    cfg: RecycleConfig | None
    preflight: Preflight
    settings: Settings

    @property
    def quiet(self) -> bool:
        """Whether the run's console is quiet (the run log then takes native output too)."""
        return self.cfg.ray.quiet if self.cfg is not None else bool(self.settings.quiet)


def with_quiet(cfg: RecycleConfig, quiet: bool | None) -> RecycleConfig:
    """A copy of `cfg` with ray.quiet set (None: `cfg` as it is)."""
    if quiet is None or cfg.ray.quiet == quiet:
        return cfg
    return cfg.model_copy(update={"ray": cfg.ray.model_copy(update={"quiet": quiet})})


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


def config_from_args(args: argparse.Namespace) -> RecycleConfig:
    """Resolve the config: the YAML file, then overrides, then --input/--output.

    Raises:
        ConfigError: more than one config file, or what loading the config raises.
    """
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
    return load_config(files[0] if files else None, quoted(overrides))


def quoted(overrides: list[str]) -> list[str]:
    """Paths given through --input/--output stay strings even if they look like YAML."""
    out = []
    for item in overrides:
        key, _, value = item.partition("=")
        if key in ("data.input", "output.dir") and value and not value.startswith(("'", '"')):
            value = "'" + value.replace("'", "''") + "'"
        out.append(f"{key}={value}")
    return out


def console_config(args: argparse.Namespace, settings: Settings) -> RecycleConfig:
    """The default way a face resolves its config: from the arguments, ray.quiet as settings say."""
    return with_quiet(config_from_args(args), settings.quiet)


def resume_command(args: argparse.Namespace, *command: str) -> str:
    """The command line that resumes this run (the same command: `recycle run` unless given)."""
    words = ["recycle", *(command or ("run",)), *getattr(args, "settings", [])]
    for option in ("input", "output"):
        if getattr(args, option, None):
            words += [f"--{option}", getattr(args, option)]
    return shlex.join(words)


def left_for_rerun(manifest: dict, command: str) -> int:
    """Say what a rerun would retry; the exit code: INCOMPLETE when samples were left, else OK."""
    return rerun_code(manifest["counts"].get("retry") or {}, command)


def unanswered_for_rerun(manifest: dict, command: str, unit: str = "pairs") -> int:
    """`left_for_rerun` of a judge or an evaluation: its pairs or questions not answered for a
    transient reason (the judge's budget, an endpoint that kept failing), which a rerun asks
    again (the judge's cache answers the rest)."""
    rejected = manifest["counts"]["rejected"]
    left = {k: n for k, n in rejected.items() if k.rsplit("/", 1)[-1] in TRANSIENT_REASONS}
    return rerun_code(left, command, unit, "judge.max_cost_usd")


def rerun_code(
    left: dict[str, int], command: str, unit: str = "samples", budget: str = "teacher.max_cost_usd"
) -> int:
    """INCOMPLETE, saying how to rerun, when `left` (reason -> count) holds any; else OK."""
    if not left:
        return exit_codes.OK
    hint = f" (raise {budget} first for 'budget')" if any("budget" in k for k in left) else ""
    print(
        f"{sum(left.values())} {unit} were left for a rerun {left}; run the same command again "
        f"to retry only those{hint}:\n  {command}",
        file=sys.stderr,
    )
    return exit_codes.INCOMPLETE


def library(module: str, function: str) -> Callable[[Request], Any]:
    """A face's `run` that calls `module.function(cfg, preflight=policy)`, imported only when
    called (after pre-flight, so a refused config never imports Ray or torch)."""

    def run(request: Request) -> Any:
        call = getattr(importlib.import_module(module), function)
        return call(request.cfg, preflight=request.preflight)

    return run


def no_checks(request: Request) -> tuple[Check, ...]:
    return ()


def no_lines(request: Request, result: Any, log_file: str | None) -> list[str]:
    return []


def output_dir(request: Request) -> str | None:
    """The default run log's folder: output.dir."""
    return request.cfg.output.dir if request.cfg is not None else None


@dataclass(frozen=True)
class Face:
    """A command as its users meet it, declared once and read by every entry.

    Attributes:
        name: the command's words on the command line ("run", "config"), and its resume hint.
        help: its one-line help.
        arguments: adds its arguments to an argparse parser.
        run: the library call, given the request; returns the manifest (or the command's result).
        checks: its pre-flight declaration (recycle.commands.needs), run before the run log
            opens and before Ray, torch or a client is imported.
        summary: the lines printed at the end (given the result and the run log's path).
        exit: the exit status of a finished call, given its resume command (default:
            `left_for_rerun`, 3 when the manifest has samples left for a rerun, else 0).
        log_dir: where OUTPUT/logs/recycle.log goes (None: no run log).
        config: the config from the arguments and settings (None for a command without one).
        words: the command's words in the resume hint, from its arguments (default: `name`).
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Request], Any]
    checks: Callable[[Request], tuple[Check, ...]] = no_checks
    summary: Callable[[Request, Any, str | None], list[str]] = no_lines
    exit: Callable[[Any, str], int] = left_for_rerun
    log_dir: Callable[[Request], str | None] = output_dir
    config: Callable[[argparse.Namespace, Settings], RecycleConfig | None] = console_config
    words: Callable[[argparse.Namespace], tuple[str, ...]] | None = None

    def resume(self, args: argparse.Namespace) -> str:
        """The command line that runs this command again."""
        return resume_command(args, *(self.words(args) if self.words else (self.name,)))

    def exit_code(self, request: Request, result: Any) -> int:
        """The exit status of a call that returned `result`."""
        return self.exit(result, self.resume(request.args))


def call(
    face: Face, args: argparse.Namespace, settings: Settings, cfg: RecycleConfig | None = None
) -> tuple[Request, Any, str | None]:
    """Config, pre-flight, run log, the command: (the request, its result, the run log's path).

    Args:
        face: the command.
        args: its parsed arguments.
        settings: how it is started.
        cfg: a config given as an object (notebooks); default: resolved from the arguments.

    Raises:
        whatever the config, the checks and the command raise (typed: recycle.errors).
    """
    cfg = with_quiet(cfg, settings.quiet) if cfg is not None else face.config(args, settings)
    request = Request(args, cfg, Preflight(settings.preflight), settings)
    request = replace(request, preflight=request.preflight.run(cfg, face.checks(request)))
    with run_log(face.log_dir(request), request.quiet) as log_file:
        return request, face.run(request), log_file


def enter(face: Face, args: argparse.Namespace, settings: Settings) -> int:
    """`call`, then the summary; returns the exit status (recycle/exit_codes.py), every error a
    user can fix as one line on stderr."""
    try:
        request, result, log_file = call(face, args, settings)
        for line in face.summary(request, result, log_file):
            print(line)
        return face.exit_code(request, result)
    except TeacherOutageError as err:
        print(f"error: {err}\n  {face.resume(args)}", file=sys.stderr)
        return exit_codes.TEACHER_UNREACHABLE
    except (RecycleError, ValidationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return exit_codes.exit_code_of(err)  # 2, or the code the error carries
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return exit_codes.INTERRUPTED


def always_ok(result: Any, command: str) -> int:
    """The exit policy of a command that leaves nothing for a rerun."""
    return exit_codes.OK
