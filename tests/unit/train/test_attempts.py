"""The attempt records of a training run: restarts and the steps they did twice."""

from __future__ import annotations

from recycle.train.attempts import Attempt, AttemptLog, read_attempts, restart_summary


def test_an_attempt_record_follows_the_steps_and_reads_back(tmp_path):
    log = AttemptLog(str(tmp_path), "run-a", resumed_from_step=8, world_size=2)
    log.step_done(9)
    log.step_done(10)
    AttemptLog(str(tmp_path), "run-b", resumed_from_step=0, world_size=1)  # another run's
    (only,) = read_attempts(str(tmp_path), "run-a")
    assert (only.resumed_from_step, only.last_step, only.world_size) == (8, 10, 2)
    assert (tmp_path / "train" / "attempts" / "run-a").is_dir()
    assert read_attempts(str(tmp_path), "never-ran") == []


def test_restarts_count_the_steps_past_each_resumed_checkpoint():
    attempts = [
        Attempt(started=1.0, resumed_from_step=0, last_step=10, world_size=2),  # earlier command
        Attempt(started=5.0, resumed_from_step=8, last_step=14, world_size=2),  # the rerun
        Attempt(started=6.0, resumed_from_step=12, last_step=24, world_size=2),  # after a lost node
    ]
    assert restart_summary(attempts, since=5.0) == {
        "attempts": 2, "restarts": 1, "steps_redone": (10 - 8) + (14 - 12), "resumed_from": [8, 12]
    }  # fmt: skip
    assert restart_summary(attempts, since=0.0)["steps_redone"] == 4
    assert restart_summary(attempts, since=0.0)["restarts"] == 2
    assert restart_summary(attempts[:1], since=0.0) == {
        "attempts": 1, "restarts": 0, "steps_redone": 0, "resumed_from": [0]
    }  # fmt: skip
