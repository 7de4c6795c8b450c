"""Every address a shipped config binds is one the README's Security section explains.

A bind is a dashboard host (`--dashboard-host=`, `dashboard-host:`), a Serve proxy host (`host:`
under `http_options`), or a served teacher's `http_host` (in a config, or the default of
`teacher.serve.http_host`). A loopback bind needs no word; any other must appear in the Security
table on the row that names its file (or the key, for the default). The default is computed at run
time (the head's internal address), so the test asks `http_options` what it binds for a stand-in
head address: a default that became a wildcard, or any literal, must be on the key's row.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from recycle.config.teacher import TeacherServeConfig
from recycle.teacher.serve import http_options

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*(REPO / "cluster").rglob("*.yaml"), *(REPO / "jobs" / "configs").glob("*.yaml")])
DASHBOARD = re.compile(r"dashboard-host[=:]\s*\"?([0-9.:a-zA-Z]+)")
LOOPBACK = ("127.", "localhost", "::1")
HEAD = "10.0.0.5"  # a stand-in for the head node's internal address
DEFAULT_KEY = "teacher.serve.http_host"


def security_rows() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Security\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def walk(node: object, path: tuple[str, ...] = ()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, path)
    else:
        yield path, node


def binds(path: Path) -> list[str]:
    """The addresses this config file binds."""
    text = path.read_text()
    found = DASHBOARD.findall(text)
    for docs in yaml.safe_load_all(text):
        for keys, value in walk(docs):
            if keys[-1:] == ("http_host",) or keys[-2:] == ("http_options", "host"):
                found.append(str(value))
    return found


def explained(rows: list[str], name: str, address: str) -> bool:
    return any(name in row and f"`{address}`" in row for row in rows)


def test_every_public_bind_of_a_shipped_config_is_explained() -> None:
    rows = security_rows()
    unexplained = []
    for path in SHIPPED:
        name = str(path.relative_to(REPO))
        for address in binds(path):
            if not address.startswith(LOOPBACK) and not explained(rows, name, address):
                unexplained.append(f"{name}: {address}")
    default = default_proxy_bind()
    if default == HEAD:
        if not any(DEFAULT_KEY in row and "internal address" in row for row in rows):
            unexplained.append(f"{DEFAULT_KEY} default: the head's internal address")
    elif not default.startswith(LOOPBACK) and not explained(rows, DEFAULT_KEY, default):
        unexplained.append(f"{DEFAULT_KEY} default: {default}")
    assert not unexplained, f"binds the README's Security section does not explain: {unexplained}"


def default_proxy_bind() -> str:
    """What the served teacher's proxy binds when `teacher.serve.http_host` is left unset."""
    return http_options(TeacherServeConfig(model_source="m"), head_address=HEAD)["host"]


def test_the_served_teachers_default_bind_is_the_heads_internal_address() -> None:
    # Ray Serve LLM's ingress checks no key: the default must not be a wildcard (issue 37, item 5)
    assert default_proxy_bind() == HEAD


def test_the_binds_are_found() -> None:
    # the reader above must see the binds it checks, or the first test passes on nothing
    assert binds(REPO / "cluster" / "kuberay" / "raycluster.yaml") == ["0.0.0.0"]
    assert binds(REPO / "cluster" / "aws.yaml") == ["127.0.0.1"]
    assert "0.0.0.0" in binds(REPO / "cluster" / "serve_llm_teacher.yaml")
    assert not explained(security_rows(), "cluster/no_such.yaml", "0.0.0.0")
