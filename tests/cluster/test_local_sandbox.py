"""cluster/local_sandbox.py builds the sandbox student once and reuses it afterwards."""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _sandbox():
    spec = importlib.util.spec_from_file_location(
        "local_sandbox", REPO / "cluster" / "local_sandbox.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_only_reuses_a_complete_student(tmp_path, monkeypatch, capsys):
    sandbox = _sandbox()
    student = tmp_path / "student"
    student.mkdir()
    (student / "config.json").write_text("{}")
    assert sandbox.existing_student(tmp_path) is None  # no weights yet: not complete
    (student / "model.safetensors").write_bytes(b"")

    def no_build(*args):
        raise AssertionError("the student was built again")

    monkeypatch.setattr(sandbox, "build_student", no_build)
    monkeypatch.setattr(sys, "argv", ["local_sandbox.py", "--root", str(tmp_path), "--build-only"])
    sandbox.main()
    assert f"student: {student} (built earlier" in capsys.readouterr().out
