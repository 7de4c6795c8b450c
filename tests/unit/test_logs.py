"""A quiet console: progress lines and our warnings on stderr; Ray's lines, Python warnings and
native output in the run's log file."""

import logging
import os
import warnings
from pathlib import Path

import pytest

from recycle import logs


@pytest.fixture
def quiet():
    logs.setup_console(verbose=False)
    logs.quiet_ray(True)  # as recycle.ray_utils.init_ray does before ray.init (ray.quiet)
    yield
    logs.teardown_console()


def test_quiet_console_shows_progress_and_warnings_only(quiet, capsys):
    logging.getLogger("recycle.progress").info("reflect+score: 3/6 samples")
    logging.getLogger("recycle.teacher").warning("teacher slow")
    logging.getLogger("recycle.teacher").info("an info line")
    logging.getLogger("ray.data").info("Starting execution of Dataset")
    logging.getLogger("ray._private.authentication").warning("Token authentication is enabled")
    warnings.warn("a tuning hint", UserWarning, stacklevel=1)
    assert capsys.readouterr().err.splitlines() == [
        "reflect+score: 3/6 samples",
        "warning: teacher slow",
    ]


def test_run_log_takes_log_lines_and_native_stderr(quiet, tmp_path, capfd):
    with logs.run_log(str(tmp_path), quiet=True) as path:
        logging.getLogger("ray.data").info("Starting execution of Dataset")
        os.write(2, b"[E core_worker.cc] from native code\n")
        logging.getLogger("recycle.progress").info("validate: 3 rows read")
    err = capfd.readouterr().err
    text = Path(path).read_text()
    assert path == str(tmp_path / "logs" / "recycle.log")
    assert "Starting execution of Dataset" in text and "from native code" in text
    assert "from native code" not in err and "validate: 3 rows read" in err
    os.write(2, b"after the run\n")  # fd 2 is the console again
    assert "after the run" in capfd.readouterr().err
