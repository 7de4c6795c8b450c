"""Fixtures of the cluster tests: a three-node Ray cluster on this machine, a clean dataset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from recycle.testing.multinode import LocalCluster
from tests.support.fixtures import *  # noqa: F403
from tests.support.tiny_model import alpaca_rows

ROWS = 40


@pytest.fixture(scope="module")
def three_nodes() -> Iterator[LocalCluster]:
    """A 0-CPU head and two 1-CPU worker nodes, all on 127.0.0.1, with a private temp folder."""
    with LocalCluster(workers=2, cpus_per_worker=1) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def clean_rows(tmp_path_factory) -> Path:
    """ROWS real Alpaca rows, every one valid: a reject can only come from the run itself."""
    path = tmp_path_factory.mktemp("cluster_data") / "clean.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in alpaca_rows()[:ROWS]))
    return path
