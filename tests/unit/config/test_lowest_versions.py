"""pyproject.toml's floors are the versions the lowest-versions CI step installs and tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[3]
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def floors() -> dict[str, str]:
    """{package: floor} of pyproject.toml's [project] dependencies."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for dep in deps:
        match = REQUIREMENT.match(dep)
        assert match, f"pyproject.toml dependency {dep!r} has no '>=' floor"
        out[_name(match[1])] = match[3]
    return out


def pins() -> dict[str, str]:
    """{package: version} of .ci/lowest-versions.txt."""
    out = {}
    for line in (ROOT / ".ci" / "lowest-versions.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            out[_name(name)] = version.strip()
    return out


def test_every_floor_is_a_pinned_lowest_version():
    assert floors() == pins()


def test_lowest_versions_pin_every_direct_dependency_once():
    lines = [
        line.split("==")[0]
        for line in (ROOT / ".ci" / "lowest-versions.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(lines) == len(set(map(_name, lines))) == len(floors())
