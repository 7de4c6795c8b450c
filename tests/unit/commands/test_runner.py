"""The command runner with a fake command: no Ray (its start is recorded), part files by pyarrow."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from recycle import columns as C
from recycle.commands import runner
from recycle.commands.runner import Command, Run, execute, stop
from recycle.config import load_config
from recycle.errors import ConfigError, InputError
from recycle.rundir import outcome_files, write_outcome_batch

ROWS = [("a", "kept", ""), ("b", "kept", ""), ("c", "dropped", "ifd_above_one"),
        ("d", "rejected", "empty_output"), ("e", "rejected", "teacher_unavailable")]  # fmt: skip


@pytest.fixture
def steps(monkeypatch):
    """The order of what the runner did; Ray's start is recorded instead of made."""
    done: list[str] = []
    monkeypatch.setattr(runner, "init_ray", lambda cfg: done.append("ray"))
    monkeypatch.setattr(runner, "cluster_resources", lambda: {"CPU": 3.0, "GPU": 1.0})
    return done


def table(rows) -> pa.Table:
    ids, outcomes, reasons = zip(*rows, strict=True)
    return pa.table({C.SAMPLE_ID: ids, C.OUTCOME: outcomes, C.REASON: reasons})


def fake(steps: list[str], rows=ROWS, n_input: int = len(ROWS), **kwargs) -> Command:
    """A command that 'reads' n_input rows and writes `rows` of them."""

    def read(run: Run) -> pa.Table:
        steps.append("read")
        run.n_input = n_input
        return table(rows)

    def write(run: Run, data: pa.Table) -> None:
        steps.append("write")
        write_outcome_batch(data, run.out_dir)

    def check(cfg) -> None:
        steps.append("check")

    return Command(**{"name": "fake", "read": read, "write": write, "check": check, **kwargs})


def config(tmp_path, *overrides):
    return load_config(None, [f"output.dir='{tmp_path / 'out'}'", *overrides])


def manifest_of(tmp_path) -> dict:
    return json.loads((tmp_path / "out" / "manifest.json").read_text())


def test_a_command_runs_check_ray_read_write_and_writes_a_manifest_that_adds_up(tmp_path, steps):
    manifest = execute(fake(steps), config(tmp_path))
    assert steps == ["check", "ray", "read", "write"]
    assert manifest == manifest_of(tmp_path) and manifest["command"] == "fake"
    assert manifest["counts"] == {
        "input": 5, "kept": 2, "dropped": {"ifd_above_one": 1},
        "rejected": {"empty_output": 1}, "retry": {"teacher_unavailable": 1},
    }  # fmt: skip
    assert manifest["invariant"] == {"ok": True, "input": 5, "accounted": 5}
    assert set(manifest["timings_s"]) == {"read", "write"}
    assert len(outcome_files(str(tmp_path / "out"), C.OUTCOME_KEPT)) == 1


def test_rows_lost_on_the_way_are_a_clear_error_and_the_manifest_says_so(tmp_path, steps):
    with pytest.raises(InputError, match=r"rows were lost: .*'input': 6, 'accounted': 5.*manifest"):
        execute(fake(steps, n_input=6), config(tmp_path))
    assert manifest_of(tmp_path)["invariant"] == {"ok": False, "input": 6, "accounted": 5}


def test_a_checked_section_that_does_not_add_up_is_an_error_too(tmp_path, steps):
    def sections(run: Run, counts: dict) -> None:
        run.extra["teacher"] = {"invariant": {"ok": False, "entered": 3, "accounted": 2}}

    command = fake(steps, sections=sections, checked=("teacher",))
    with pytest.raises(InputError, match=r"teacher \{'ok': False, 'entered': 3"):
        execute(command, config(tmp_path))


def test_a_failed_check_starts_nothing_and_writes_nothing(tmp_path, steps):
    def refuse(cfg) -> None:
        raise ConfigError("student.model is not set")

    with pytest.raises(ConfigError, match="student.model"):
        execute(fake(steps, check=refuse), config(tmp_path))
    assert steps == [] and not (tmp_path / "out").exists()


def test_a_reader_that_needs_no_ray_runs_first_and_a_refusal_starts_no_ray(tmp_path, steps):
    execute(fake(steps, read_before_ray=True), config(tmp_path))
    assert steps == ["check", "read", "ray", "write"]
    steps.clear()

    def refuse(run: Run) -> None:
        raise ConfigError("cannot be derived")

    with pytest.raises(ConfigError):
        execute(fake(steps, read=refuse, read_before_ray=True), config(tmp_path))
    assert steps == ["check"]


def test_a_command_clears_the_run_directory_of_an_earlier_run(tmp_path, steps):
    execute(fake(steps), config(tmp_path))
    manifest = execute(fake(steps, rows=ROWS[:2], n_input=2), config(tmp_path))
    assert manifest["counts"] == {"input": 2, "kept": 2, "dropped": {}, "rejected": {}}
    assert not (tmp_path / "out" / "dropped").exists()


def test_a_resumable_command_keeps_its_rows_and_refuses_other_settings(tmp_path, steps):
    keys = lambda cfg: {"selection.mode": cfg.selection.mode}  # noqa: E731
    first = fake(steps, rows=ROWS[:3], n_input=3, resume_keys=keys)
    execute(first, config(tmp_path, "selection.mode=selective"))
    rest = fake(steps, rows=ROWS[3:], resume_keys=keys)  # the rows the first run did not reach
    manifest = execute(rest, config(tmp_path, "selection.mode=selective"))
    assert manifest["invariant"] == {"ok": True, "input": 5, "accounted": 5}
    assert manifest["counts"]["kept"] == 2
    with pytest.raises(ConfigError, match="selection.mode: 'selective' -> 'recycle'"):
        execute(rest, config(tmp_path, "selection.mode=recycle"))
    fresh = fake(steps, rows=ROWS[3:], n_input=2, resume_keys=keys)
    manifest = execute(fresh, config(tmp_path, "selection.mode=recycle", "output.overwrite=true"))
    assert manifest["counts"]["kept"] == 0 and manifest["invariant"]["accounted"] == 2


def test_the_fitted_config_is_the_one_the_steps_and_the_manifest_see(tmp_path, steps):
    def fit(cfg, resources):
        cfg = cfg.model_copy(deep=True)
        cfg.student.num_actors = int(resources["CPU"]) + 4
        return cfg

    seen = []
    command = fake(steps, fit=fit, sections=lambda run, counts: seen.append(run.cfg))
    manifest = execute(command, config(tmp_path))
    assert seen[0].student.num_actors == 7 and manifest["config"]["student"]["num_actors"] == 7


def test_a_stopped_run_counts_what_it_did_not_reach_as_pending(tmp_path, steps):
    cfg = config(tmp_path)
    run = Run(cfg, n_input=9)
    write_outcome_batch(table(ROWS), run.out_dir)
    assert stop(run, "run", retry=True) == 4
    manifest = manifest_of(tmp_path)
    assert manifest["counts"]["pending"] == 4 and manifest["invariant"]["ok"]


def test_a_command_writing_its_own_files_lists_only_those(tmp_path, steps):
    from recycle.commands.runner import close

    run = Run(config(tmp_path), n_input=3, out_dir=str(tmp_path / "answers"), part_files=False,
              lost="questions", outputs={"answers": "model_outputs.json"})  # fmt: skip
    manifest = close("generate", run, {"kept": 3, "dropped": {}, "rejected": {}})
    assert manifest["outputs"] == {"answers": "model_outputs.json"}
    assert (tmp_path / "answers" / "manifest.json").is_file()
    with pytest.raises(InputError, match="questions were lost"):
        close("generate", run, {"kept": 2, "dropped": {}, "rejected": {}})
