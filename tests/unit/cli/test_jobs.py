"""Each `jobs/` script is one `recycle` command: its `main(argv)` is `recycle COMMAND ARGV`, with
that command's exit status (the integration tests run the commands' exit codes for real)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from recycle.cli import main as cli

JOBS = Path(__file__).resolve().parents[3] / "jobs"
COMMANDS = {
    "recycle_data": "run",
    "end_to_end": "end-to-end",
    "finetune": "train",
    "evaluate": "eval",
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_job_script_is_its_command_with_its_exit_status(name, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or 3)
    spec = importlib.util.spec_from_file_location(f"job_{name}", JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["a.b=1", "c=d"]) == 3
    assert calls == [[COMMANDS[name], "a.b=1", "c=d"]]
