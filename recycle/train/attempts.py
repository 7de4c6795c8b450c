"""What restarts cost a training run: one record per start of the worker group.

Rank 0 writes `OUTPUT/train/attempts/<train.name>/attempt-<started>.json` when the workers start
(the step they resumed from, the world size) and rewrites it after every step with the last step
done. A start after a lost node (Ray Train restarting the group under `train.max_failures`) or a
rerun of the command resumes from the latest checkpoint: the steps the previous attempt had done
past that checkpoint are done twice, at most `train.checkpoint_every_steps`.

One small file rewritten per step: a step of a real model takes seconds, the write milliseconds
(a PUT on object stores, which have no appends).
"""

from __future__ import annotations

import json
import posixpath
import time
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow.fs as pafs

from recycle.storage import filesystem, glob_files, read_json, write_bytes_atomic

TRAIN_DIR = "train"  # OUTPUT/train: the training manifest and these records
ATTEMPTS_DIR = "attempts"


def attempts_dir(output_dir: str, name: str) -> str:
    """URI of the attempt records of the training run `name` of a run directory."""
    return posixpath.join(output_dir.rstrip("/"), TRAIN_DIR, ATTEMPTS_DIR, name)


@dataclass
class Attempt:
    """One start of the worker group."""

    started: float  # wall-clock seconds at the start
    resumed_from_step: int  # 0: from scratch
    last_step: int  # the last step finished (resumed_from_step until the first one)
    world_size: int


class AttemptLog:
    """Rank 0's record of the current attempt, rewritten after each step."""

    def __init__(self, output_dir: str, name: str, resumed_from_step: int, world_size: int):
        self.attempt = Attempt(time.time(), resumed_from_step, resumed_from_step, world_size)
        self.fs, folder = filesystem(attempts_dir(output_dir, name))
        self.fs.create_dir(folder, recursive=True)
        self.path = posixpath.join(folder, f"attempt-{self.attempt.started:017.6f}.json")
        self._write()

    def step_done(self, step: int) -> None:
        """Record that `step` is finished."""
        self.attempt.last_step = step
        self._write()

    def _write(self) -> None:
        write_bytes_atomic(self.fs, self.path, json.dumps(asdict(self.attempt)).encode("utf-8"))


def read_attempts(output_dir: str, name: str) -> list[Attempt]:
    """Every attempt recorded for the run `name`, oldest first."""
    uri = attempts_dir(output_dir, name)
    fs, folder = filesystem(uri)
    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        return []
    paths = glob_files(fs, posixpath.join(folder, "attempt-*.json"))
    return sorted((Attempt(**read_json(fs, p)) for p in paths), key=lambda a: a.started)


def restart_summary(attempts: list[Attempt], since: float) -> dict[str, Any]:
    """The restarts of the attempts started at or after `since` (this invocation) and the steps
    they did twice: for each, the previous attempt's last step past the step it resumed from."""
    summary: dict[str, Any] = {"attempts": 0, "restarts": 0, "steps_redone": 0, "resumed_from": []}
    for i, attempt in enumerate(attempts):
        if attempt.started < since:
            continue
        summary["attempts"] += 1
        summary["resumed_from"].append(attempt.resumed_from_step)
        if i > 0:
            previous = attempts[i - 1]
            summary["steps_redone"] += max(0, previous.last_step - attempt.resumed_from_step)
    summary["restarts"] = max(0, summary["attempts"] - 1)
    return summary
