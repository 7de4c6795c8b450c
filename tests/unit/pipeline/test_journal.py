"""The invocations' journal: a killed `recycle run` leaves its teacher totals in the run directory,
and the reruns count them exactly once (resume.InvocationJournal, resume.previous_invocations)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from recycle.pipeline.resume import (
    FINISHED,
    InvocationJournal,
    add_up,
    previous_invocations,
    prior_cost_usd,
)
from recycle.rundir import INVOCATIONS_DIR, clear_outcomes, write_manifest
from recycle.teacher.write_ahead import WriteAhead


def totals(requests: int, cost: float, unsettled: int = 0, **more) -> dict:
    """What the gate's totals() looks like: counters, settings, flags and gauges."""
    return {
        "requests": requests, "unsettled": unsettled, "prompt_tokens": 10 * requests,
        "cost_usd": cost, "errors": {}, "priced": True, "max_cost_usd": 5.0,
        "budget_exhausted": False, "circuit": "closed", "outage_s": 0.0, **more,
    }  # fmt: skip


@pytest.fixture(params=["path", "uri"])
def run_dir(request, tmp_path) -> str:
    """A local path, and the same folder as a URI (through pyarrow's FileSystem.from_uri, as
    s3:// and gs:// go)."""
    return str(tmp_path / "run") if request.param == "path" else f"file://{tmp_path}/run"


def journal_files(run_dir: str) -> list[str]:
    folder = Path(run_dir.removeprefix("file://")) / INVOCATIONS_DIR
    return sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else []


def finish(run_dir: str, history: list[dict], journal: InvocationJournal, summary: dict) -> dict:
    """What reflect_and_score and the runner do when an invocation ends: record it, write the
    manifest."""
    history = [*history, journal.record(FINISHED, summary)]
    manifest = {"invocations": history, "teacher": add_up(summary, history)}
    write_manifest(run_dir, manifest)
    return manifest


def test_each_invocation_is_counted_once_across_kills_and_reruns(run_dir):
    # 1st: killed after paying 5 requests, one of them unanswered (counted, at its reservation)
    first = InvocationJournal(run_dir, time.time() - 30)
    first.update(totals(5, 0.5, unsettled=1))
    assert previous_invocations(run_dir) == [
        {**first.record("killed", totals(5, 0.5, unsettled=1)), "seconds": pytest.approx(30, abs=2)}
    ]
    # 2nd: counts the 1st in its budget, then is killed too, before any manifest
    history = previous_invocations(run_dir)
    assert prior_cost_usd(history) == 0.5
    second = InvocationJournal(run_dir, time.time() - 20)
    second.update(totals(3, 0.25))
    # 3rd: counts both, finishes, and writes them into its manifest
    history = previous_invocations(run_dir)
    assert [(i["id"], i["status"]) for i in history] == [
        (first.id, "killed"),
        (second.id, "killed"),
    ]
    assert prior_cost_usd(history) == 0.75
    third = InvocationJournal(run_dir, time.time() - 10)
    third.update(totals(2, 0.125))
    manifest = finish(run_dir, history, third, totals(2, 0.125))
    assert manifest["teacher"]["requests"] == 10 and manifest["teacher"]["unsettled"] == 1
    assert manifest["teacher"]["cost_usd"] == 0.875 and manifest["teacher"]["invocations"] == 3
    assert len(journal_files(run_dir)) == 3  # the manifest holds them; the next run deletes them
    # 4th: the manifest's three, none of them twice; their journal files go
    history = previous_invocations(run_dir)
    assert [i["id"] for i in history] == [first.id, second.id, third.id]
    assert [i["status"] for i in history] == ["killed", "killed", "finished"]
    assert journal_files(run_dir) == [] and prior_cost_usd(history) == 0.875
    # ... killed as well: the 5th counts the manifest's three and the 4th
    fourth = InvocationJournal(run_dir, time.time())
    fourth.update(totals(1, 0.0625))
    history = previous_invocations(run_dir)
    assert [i["id"] for i in history] == [first.id, second.id, third.id, fourth.id]
    assert add_up(totals(0, 0.0), history)["requests"] == 11
    assert journal_files(run_dir) == [f"{fourth.id}.json"]


def test_a_kill_before_the_manifest_is_written_loses_nothing(run_dir):
    """The rerun that counted a killed invocation is killed itself before its manifest: the
    next one counts both, from the journal."""
    first = InvocationJournal(run_dir, time.time() - 20)
    first.update(totals(4, 0.4))
    finish(run_dir, [], first, totals(4, 0.4))  # recorded in a manifest
    second = InvocationJournal(run_dir, time.time() - 10)
    second.update(totals(2, 0.2))  # killed
    assert [i["status"] for i in previous_invocations(run_dir)] == ["finished", "killed"]
    third = InvocationJournal(run_dir, time.time())
    third.update(totals(1, 0.1))  # killed before it wrote the manifest with the 2nd in it
    history = previous_invocations(run_dir)
    assert [i["id"] for i in history] == [first.id, second.id, third.id]
    assert prior_cost_usd(history) == pytest.approx(0.7)


def test_the_journal_is_written_only_when_a_counter_changed(run_dir, monkeypatch):
    journal = InvocationJournal(run_dir, time.time())
    writes: list[dict] = []
    write = journal.write
    monkeypatch.setattr(journal, "write", lambda record: (writes.append(record), write(record)))
    journal.update(totals(0, 0.0))  # the start: on record before the first request
    journal.update(totals(0, 0.0, circuit="open", outage_s=12.5))  # a gauge, not a counter
    journal.update(totals(2, 0.2, unsettled=2))
    journal.update(totals(2, 0.2, unsettled=2))
    journal.update(totals(2, 0.2, errors={"timeout": 1}))
    assert [w["teacher"]["requests"] for w in writes] == [0, 2, 2]
    assert [w["status"] for w in writes] == ["running"] * 3
    [record] = previous_invocations(run_dir)
    assert record["teacher"]["errors"] == {"timeout": 1} and record["status"] == "killed"


def test_an_invocation_ended_by_an_exception_says_how(run_dir):
    interrupted = InvocationJournal(run_dir, time.time() - 10)
    interrupted.update(totals(1, 0.1))
    interrupted.ended(KeyboardInterrupt(), totals(3, 0.3))  # the final totals, after the drain
    failed = InvocationJournal(run_dir, time.time())
    failed.ended(RuntimeError("boom"), totals(2, 0.2))
    history = previous_invocations(run_dir)
    assert [(i["status"], i["teacher"]["requests"]) for i in history] == [
        ("interrupted", 3),
        ("failed", 2),
    ]


def test_a_fresh_run_forgets_the_journal(run_dir):
    InvocationJournal(run_dir, time.time()).update(totals(1, 0.1))
    clear_outcomes(run_dir)  # output.overwrite=true
    assert previous_invocations(run_dir) == [] and journal_files(run_dir) == []


def test_the_gate_has_each_request_on_record_before_it_leaves(tmp_path):
    """write_ahead.WriteAhead, as the gate actor uses it with the journal: a hold returns once a
    write counting its request has finished; writes are grouped (one in flight), so 40 requests
    held at once on a slow store cost a few writes, not 40."""
    run = str(tmp_path / "run")
    journal = InvocationJournal(run, time.time())
    state = {"requests": 0}
    writes: list[int] = []

    def persist(t: dict) -> None:
        time.sleep(0.02)  # a slow store
        journal.update(t)
        writes.append(t["requests"])

    async def hold(ahead: WriteAhead) -> int:
        state["requests"] += 1  # the gate counts the request as it leaves
        mine = state["requests"]
        await ahead.covered()
        assert writes and writes[-1] >= mine  # on record before it leaves
        return mine

    async def run_all() -> list[int]:
        ahead = WriteAhead(persist, lambda: totals(state["requests"], 0.0))
        held = await asyncio.gather(*(hold(ahead) for _ in range(40)))
        ahead.changed()  # a settlement: written without waiting
        await ahead.seal()
        return held

    assert sorted(asyncio.run(run_all())) == list(range(1, 41))
    assert writes == sorted(writes) and writes[-1] == 40 and len(writes) <= 4, writes
    path = Path(run) / INVOCATIONS_DIR / f"{journal.id}.json"
    assert json.loads(path.read_text())["teacher"]["requests"] == 40


def test_a_store_that_refuses_the_journal_does_not_stop_the_requests(caplog):
    calls: list[dict] = []

    def persist(t: dict) -> None:
        calls.append(t)
        raise OSError("access denied")

    async def two_requests() -> None:
        ahead = WriteAhead(persist, lambda: totals(len(calls), 0.0))
        await ahead.covered()
        await ahead.covered()
        await ahead.seal()
        ahead.changed()  # sealed: nothing more is written

    asyncio.run(two_requests())
    assert len(calls) == 2
    assert [r.getMessage() for r in caplog.records] == [
        "could not persist the teacher totals: access denied"
    ]  # said once


def test_the_journal_travels_to_the_gate_without_its_filesystem(run_dir):
    """Pickled for the gate actor: the URI, never the filesystem object (an S3 one pickles the
    credentials it resolved); the copy writes to the same file."""
    import pickle

    journal = InvocationJournal(run_dir, time.time())
    blob = pickle.dumps(journal)
    assert b"LocalFileSystem" not in blob and b"pyarrow" not in blob
    copy = pickle.loads(blob)
    copy.update(totals(3, 0.3))
    assert journal_files(run_dir) == [f"{journal.id}.json"]
    assert previous_invocations(run_dir)[0]["teacher"]["requests"] == 3
