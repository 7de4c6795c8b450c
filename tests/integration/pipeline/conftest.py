"""Fixtures of the pipeline tests: tiny students, a faulty local teacher, a small real dataset."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from recycle.config import RecycleConfig, load_config
from recycle.testing.local_answers import default_answer
from recycle.testing.local_server import LocalTeacherServer
from tests.support.fixtures import *  # noqa: F403
from tests.support.tiny_model import alpaca_rows


class RecordingTeacher:
    """The default scripted answers, recording a hash of every prompt answered."""

    def __init__(self):
        self.answered: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, messages):
        with self.lock:
            self.answered.append(hashlib.sha256(json.dumps(messages).encode()).hexdigest())
        return default_answer(messages)


BAD_LINES = ['{"instruction": "no output"}', "{broken json", '{"instruction": "", "output": "x"}']


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    """40 real Alpaca rows, one duplicate and three bad rows, as JSON Lines."""
    rows = alpaca_rows()[:40]
    path = tmp_path_factory.mktemp("data") / "small.jsonl"
    lines = [json.dumps(r) for r in rows] + [json.dumps(rows[3])] + BAD_LINES
    path.write_text("\n".join(lines) + "\n")
    return path


def pipeline_config(
    data: Path, out: Path, student: Path, teacher_url: str, *overrides: str
) -> RecycleConfig:
    """A config for a small local run against the local teacher."""
    base = [
        f"data.input='{data}'", f"output.dir='{out}'", f"student.model='{student}'",
        f"teacher.base_url={teacher_url}", "teacher.model=local-teacher",
        "teacher.timeout_s=2", "teacher.backoff_base_s=0.05", "teacher.backoff_max_s=0.5",
        "teacher.num_actors=1", "teacher.concurrency=8", "student.max_length=1024",
        "student.num_actors=1", "student.batch_size=16", "output.report_stats=false",
    ]  # fmt: skip
    return load_config(None, [*base, *overrides])


@pytest.fixture
def faulty_teacher():
    """The local teacher with 429s, 500s, dropped connections and answers without markers."""
    faults = {"rate_limit": 0.06, "server_error": 0.06, "drop": 0.04, "no_markers": 0.06}
    with LocalTeacherServer(faults=faults, seed=7, retry_after_s=0.05) as server:
        yield server


@pytest.fixture
def clean_teacher():
    with LocalTeacherServer() as server:
        yield server
