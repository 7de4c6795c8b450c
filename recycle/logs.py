"""Where messages go: a quiet console for people, everything else in the run directory's log file.

Every entry that has a console (the command line and the `jobs/` scripts, through
recycle.commands.entry) calls `setup_console(verbose)`. Quiet (the default) shows warnings, errors
and the progress lines (logger `recycle.progress`); Ray's own progress bars and info lines, the
workers' output and native code writing to stderr go to `OUTPUT/logs/recycle.log` while a run
holds `run_log(OUTPUT, quiet=True)`. `--verbose` shows everything. Notebooks (recycle.api) are
not quiet unless asked, and see Ray's usual output.

Nothing here is a module-level flag: whether a run is quiet is passed (`run_log`'s `quiet`, the
config's ray.quiet that `init_ray` and the progress lines read).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROGRESS_LOGGER = "recycle.progress"
LOG_FILE = "logs/recycle.log"
RAY_LOGGERS = ("ray", "ray.data", "ray.train", "ray.tune", "ray.serve")
# On a quiet console these show only errors: Ray's own lines, and Python warnings (Ray Data's
# tuning hints among them), which land in the run's log file.
QUIET_LOGGERS = ("ray", "py.warnings")
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Progress bars of the model and hub libraries, in this process and in Ray workers it starts.
QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}
# Libraries that draw progress bars whenever their logger is at INFO.
BAR_AT_INFO_LOGGERS = ("sentence_transformers",)


class ConsoleHandler(logging.Handler):
    """Writes to whatever `sys.stderr` is at the time (a test's capture, a swapped stream)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            self.handleError(record)


class QuietFilter(logging.Filter):
    """Progress lines, and warnings or worse, except Ray's own warnings (token auth and the like)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(PROGRESS_LOGGER):
            return True
        if record.name in QUIET_LOGGERS or record.name.startswith("ray."):
            return record.levelno >= logging.ERROR
        return record.levelno >= logging.WARNING


class ConsoleFormatter(logging.Formatter):
    """Progress lines as they are; anything else prefixed by its level."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name.startswith(PROGRESS_LOGGER):
            return record.getMessage()
        return f"{record.levelname.lower()}: {record.getMessage()}"


def setup_console(verbose: bool) -> None:
    """Configure the root logger for a command-line run (replacing an earlier call's handler)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, ConsoleHandler)]:
        root.removeHandler(handler)
    handler = ConsoleHandler()
    if verbose:
        handler.setFormatter(logging.Formatter(FILE_FORMAT))
    else:
        handler.addFilter(QuietFilter())
        handler.setFormatter(ConsoleFormatter())
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
        for name in BAR_AT_INFO_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(not verbose)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def teardown_console() -> None:
    """Undo `setup_console`: remove its handler, stop capturing warnings."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, ConsoleHandler)]:
        root.removeHandler(handler)
    logging.captureWarnings(False)


def quiet_ray(quiet: bool) -> None:
    """When `quiet` (ray.quiet, set by the command line): send Ray's loggers through ours (so the
    file gets them and the console only their errors), and turn Ray Data's progress bars off."""
    if not quiet:
        return
    import ray.data

    for name in RAY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is not logging.FileHandler and not _writes_a_file(handler):
                logger.removeHandler(handler)
        logger.propagate = True
    ray.data.DataContext.get_current().enable_progress_bars = False


def _writes_a_file(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.FileHandler) or "File" in type(handler).__name__


@contextmanager
def run_log(run_dir: str | None, quiet: bool) -> Iterator[str | None]:
    """Log everything to RUN_DIR/logs/recycle.log while the body runs; when `quiet`, also what
    native code and Ray write to this process's stderr. Yields the file's path (None without a
    run directory, or for remote ones, whose logs stay with the job)."""
    if not run_dir or "://" in run_dir:
        yield None
        return
    path = Path(run_dir).expanduser() / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        if quiet:
            with _native_stderr_to(handler.stream.fileno()):
                yield str(path)
        else:
            yield str(path)
    finally:
        root.removeHandler(handler)
        handler.close()


@contextmanager
def _native_stderr_to(fd: int) -> Iterator[None]:
    """Point file descriptor 2 at `fd`; Python's sys.stderr keeps writing to the console."""
    sys.stderr.flush()
    saved = os.dup(2)
    swapped = _is_fd2(sys.stderr)
    original = sys.stderr
    os.dup2(fd, 2)
    if swapped:
        sys.stderr = open(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if swapped:
            sys.stderr.close()
            sys.stderr = original


def _is_fd2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
