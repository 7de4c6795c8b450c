"""Every command's accounting is checked by the runner: each real command declaration (its unit,
its counts, where its manifest goes), with its reading and writing replaced by a stand-in that
loses one item, is refused with the command's unit named; the same stand-in losing nothing passes.
No Ray: its start is recorded instead of made.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pyarrow as pa
import pytest

from recycle import columns as C
from recycle.commands import runner
from recycle.commands.generate import generate_command
from recycle.commands.judge import judge_command
from recycle.commands.pipeline import RUN
from recycle.commands.reflect import reflect_command
from recycle.commands.score import SCORE
from recycle.commands.select import SELECT
from recycle.commands.stats import stats_command
from recycle.commands.train import train_command
from recycle.commands.validate import VALIDATE
from recycle.config import load_config
from recycle.errors import InputError
from recycle.eval import columns as E
from recycle.pipeline.nodes import Cluster, Node
from recycle.rundir import write_outcome_batch

N = 4  # items every stand-in reads


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    monkeypatch.setattr(runner, "init_ray", lambda cfg: None)
    monkeypatch.setattr(runner, "cluster_resources", lambda: {"CPU": 2.0})
    one_node = Cluster((Node("local", {"CPU": 2.0, "memory": 8e9}, {"CPU": 2.0, "memory": 8e9}),))
    monkeypatch.setattr(runner, "read_cluster", lambda: one_node)  # what the plan places on


def rows_written(run, n):
    """Part-file commands: n kept rows into the run directory."""
    ids = [f"s{i}" for i in range(n)]
    table = pa.table({C.SAMPLE_ID: ids, C.OUTCOME: [C.OUTCOME_KEPT] * n, C.REASON: [""] * n})
    write_outcome_batch(table, run.out_dir)
    run.extra["teacher"] = {"invariant": {"ok": True}}  # reflect's own checked section


def answers(run, n):
    run.state.answered, run.state.rejected = [{}] * n, []


def pairs(run, n):
    run.state.judged = [{E.OUTCOME: "win", E.JUDGE_ERROR: ""}] * n


def samples(run, n):
    schedule = SimpleNamespace(stats={"samples": n})
    run.state.data = SimpleNamespace(left_out={}, schedule=schedule)


def stats_rows(run, n):
    run.state.result = {"counts": {"input": N, "kept": n, "dropped": {}, "rejected": {}}}


def commands(tmp_path):
    """(id, the real declaration, what its writing leaves for its counts, the unit named)."""
    out = str(tmp_path / "side")
    cfg = load_config(None, [f"output.dir='{tmp_path / 'out'}'"])
    return [
        ("validate", VALIDATE, rows_written, "rows"),
        ("score", SCORE, rows_written, "rows"),
        ("reflect", reflect_command("instruction"), rows_written, "rows"),
        ("select", SELECT, rows_written, "rows"),
        ("run", RUN, rows_written, "rows"),
        ("generate", generate_command("/models/m", out), answers, "questions"),
        ("judge", judge_command(cfg, "a.json", "b.json", out), pairs, "pairs"),
        ("train", train_command(cfg), samples, "samples"),
        ("stats", stats_command(str(tmp_path / "row.json")), stats_rows, "rows"),
    ]


def stand_in(command, leave, lose: int):
    """The command with its own steps replaced: reads N items, leaves N - lose counted."""

    def read(run):
        run.n_input = N

    def write(run, _):
        leave(run, N - lose)

    return dataclasses.replace(command, read=read, write=write, check=None, fit=None,
                               sections=None, after=None, preflight=())  # fmt: skip


IDS = ["validate", "score", "reflect", "select", "run", "generate", "judge", "train", "stats"]


@pytest.mark.parametrize("index", range(len(IDS)), ids=IDS)
def test_the_runner_refuses_each_command_whose_accounting_does_not_add_up(tmp_path, index):
    _, command, leave, unit = commands(tmp_path)[index]
    cfg = load_config(None, [f"output.dir='{tmp_path / 'out'}'"])
    manifest = runner.execute(stand_in(command, leave, lose=0), cfg)
    assert manifest["invariant"] == {"ok": True, "input": N, "accounted": N}
    assert manifest["command"] == command.name
    _, command, leave, unit = commands(tmp_path / "again")[index]  # a fresh run directory
    cfg = load_config(None, [f"output.dir='{tmp_path / 'again' / 'out'}'"])
    with pytest.raises(
        InputError, match=rf"^{unit} were lost: .*'input': {N}, 'accounted': {N - 1}"
    ):
        runner.execute(stand_in(command, leave, lose=1), cfg)


def test_stats_writes_its_manifest_beside_the_row_and_a_run_directory_keeps_its_own(tmp_path):
    cfg = load_config(None, [f"output.dir='{tmp_path / 'out'}'"])
    runner.execute(stand_in(stats_command(str(tmp_path / "row.json")), stats_rows, 0), cfg)
    manifest = json.loads((tmp_path / "row.manifest.json").read_text())
    assert manifest["command"] == "stats" and manifest["invariant"]["ok"]
    assert not (tmp_path / "manifest.json").exists() and not (tmp_path / "out").exists()
