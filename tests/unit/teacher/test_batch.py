"""The batch backend through the real openai client against the local server's Batch API, with faults."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from recycle.config.teacher import ModelPrice
from recycle.prompts import render_chat
from recycle.teacher import backend as teacher_backend
from recycle.teacher import batch_files
from recycle.teacher import errors as teacher_errors
from recycle.teacher.cache import AnswerCache
from recycle.teacher.client import TeacherClient
from recycle.teacher.gate import GateSettings, LocalGate
from tests.support.s3 import s3_env  # noqa: F401

from .conftest import teacher_config

PRICE = {"local-teacher": ModelPrice(input_per_1m=1.0, output_per_1m=2.0)}


def batch_client(server, cache_dir: Path | str | None, **overrides) -> TeacherClient:
    values = {
        "backend": "batch",
        "batch_poll_s": 0.05,
        "batch_linger_s": 0.05,
        "prices": PRICE,
        **overrides,
    }
    cfg = teacher_config(server, **values)
    cache = AnswerCache(str(cache_dir)) if cache_dir is not None else None
    return TeacherClient(cfg, LocalGate(GateSettings.from_config(cfg)), cache)


def prompt(i: int):
    return render_chat("reflect_response", instruction=f"Question {i}?", output=f"Answer {i}.")


async def ask(client: TeacherClient, n: int) -> list[str]:
    async def one(i: int) -> str:
        try:
            return (await client.complete(prompt(i), 64)).text
        except teacher_errors.SampleRejected as rej:
            return f"REJECTED {rej.reason}: {rej.detail}"

    try:
        return await asyncio.gather(*[one(i) for i in range(n)])
    finally:
        await client.aclose()


def run(client: TeacherClient, n: int) -> tuple[list[str], dict]:
    async def go():
        out = await ask(client, n)
        return out, await client.gate.totals()

    return asyncio.run(go())


def test_lines_chunks_and_results() -> None:
    line = batch_files.batch_line("k1", {"model": "m", "messages": []})
    assert json.loads(line) == {
        "custom_id": "k1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": []},
    }
    lines = [(f"k{i}", b"x" * 10) for i in range(7)]
    assert [len(c) for c in batch_files.chunks(lines, 3, 10_000)] == [3, 3, 1]
    assert [len(c) for c in batch_files.chunks(lines, 100, 25)] == [2, 2, 2, 1]
    with pytest.raises(ValueError, match="batch_max_bytes"):
        batch_files.chunks([("big", b"x" * 30)], 10, 25)
    assert batch_files.request_set_hash(["a", "b"]) == batch_files.request_set_hash(["b", "a"])
    _, failure = batch_files.read_result({"custom_id": "x", "error": {"code": "batch_expired"}})
    assert failure.kind == teacher_backend.EXPIRED and failure.endpoint_ok
    _, failure = batch_files.read_result(
        {"custom_id": "x", "response": {"status_code": 400, "body": {"error": {"message": "no"}}}}
    )
    assert failure.kind == teacher_backend.BAD_REQUEST and failure.message == "no"


@pytest.mark.integration  # the local teacher server
def test_every_fault_ends_answered_or_rejected_once_paid_at_half_price(
    make_server, tmp_path
) -> None:
    server = make_server(batch_latency_s=0.05, faults={"server_error": 0.1, "bad_request": 0.05})
    server.batch.fail_uploads(1)
    server.batch.expire_half(1)
    server.batch.refuse_over(40)
    out, totals = run(batch_client(server, tmp_path), 120)
    rejected = [o for o in out if o.startswith("REJECTED")]
    assert all(o.startswith(f"REJECTED {teacher_errors.BAD_REQUEST}") for o in rejected)
    assert len(out) - len(rejected) + len(rejected) == 120
    assert all("[Better Answer]" in o for o in out if not o.startswith("REJECTED"))
    assert max(server.batch.paid.values()) == 1  # no prompt paid twice
    assert len(server.batch.paid) == 120 - len(rejected)
    assert totals["errors"]["expired"] > 0 and totals["errors"]["server_error"] > 0
    online = (totals["prompt_tokens"] * 1.0 + totals["completion_tokens"] * 2.0) / 1e6
    assert totals["cost_usd"] == pytest.approx(online / 2, rel=1e-4)
    assert totals["batches"]["in_progress"] == 0 and totals["batches"]["done"] >= 4
    journal = list((tmp_path / "batches").glob("*.json"))
    assert journal and all(json.loads(p.read_text())["batch_id"] for p in journal)


@pytest.fixture(params=["local", "s3"])
def cache_root(request, tmp_path) -> str:
    """Where the answer cache and the batch journal beside it live: a folder, or an S3 bucket
    (moto's S3 server on the loopback, reached through AWS_ENDPOINT_URL)."""
    if request.param == "local":
        return str(tmp_path)
    request.getfixturevalue("s3_env")
    return f"s3://runs/{tmp_path.name}"


@pytest.mark.integration  # the local teacher server
def test_a_rerun_polls_the_batches_already_paid_for(make_server, cache_root) -> None:
    server = make_server(batch_latency_s=1.0)
    tmp_path = cache_root

    async def interrupted():
        client = batch_client(server, tmp_path, batch_poll_s=0.05)
        task = asyncio.ensure_future(ask(client, 30))
        while server.batch.created == 0:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        task.cancel()  # the job dies while its batch is in progress
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(interrupted())
    assert server.batch.created == 1 and not server.batch.paid
    (record,) = batch_files.BatchJournal(f"{cache_root}/batches").load()  # journaled, durably
    assert record.batch_id
    out, totals = run(batch_client(server, tmp_path), 30)
    assert all("[Better Answer]" in o for o in out)
    assert server.batch.created == 1  # nothing submitted again
    assert sorted(server.batch.paid.values()) == [1] * 30
    out, totals = run(batch_client(server, tmp_path), 30)  # a third run: all from the cache
    assert totals["cache_hits"] == 30 and server.batch.created == 1


@pytest.mark.integration  # the local teacher server
def test_a_batch_created_but_not_journaled_is_found_by_its_metadata(make_server, tmp_path) -> None:
    server = make_server(batch_latency_s=0.05)
    run(batch_client(server, None), 5)  # the same requests, in a batch the journal never saw
    journal = batch_files.BatchJournal(str(tmp_path / "batches"))
    client = batch_client(server, tmp_path)
    keys = sorted(server.batch.paid)
    journal.write(
        batch_files.BatchRecord(batch_files.request_set_hash(keys), keys, "file-x", None, 1.0)
    )
    out, _ = run(client, 5)
    assert all("[Better Answer]" in o for o in out)
    assert server.batch.created == 1 and sorted(server.batch.paid.values()) == [1] * 5


@pytest.mark.integration  # the local teacher server
def test_failed_validation_stops_the_job_with_the_servers_message(make_server) -> None:
    server = make_server(batch_latency_s=0.05)
    server.batch.fail_validation("line 1: body.model is required")
    with pytest.raises(teacher_errors.TeacherEndpointError, match="body.model is required"):
        asyncio.run(batch_client(server, None).complete(prompt(0), 64))


@pytest.mark.integration  # the local teacher server
def test_retryable_errors_are_bounded(make_server) -> None:
    server = make_server(batch_latency_s=0.02, faults={"server_error": 1.0})
    out, totals = run(batch_client(server, None, max_retries=2), 3)
    assert all(o.startswith(f"REJECTED {teacher_errors.UNAVAILABLE}") for o in out)
    assert totals["requests"] == 9 and totals["circuit"] == "closed"  # 3 attempts each


@pytest.mark.integration
def test_a_failed_download_is_retried_with_backoff_and_counted(make_server) -> None:
    # A result file is paid for: its download is retried like every other batch call (capped
    # exponential backoff with jitter, counted), not at the fixed poll interval.
    server = make_server(batch_latency_s=0.02)
    server.batch.fail_downloads(2)
    client = batch_client(server, None, backoff_base_s=0.01, backoff_max_s=0.05)
    out, _ = run(client, 3)
    assert all("[Better Answer]" in o for o in out)
    assert client.status()["call_retries"] == 2
    assert max(server.batch.paid.values()) == 1


def test_the_board_and_the_progress_note_show_batches_in_flight() -> None:
    from recycle.pipeline.progress import batches_note
    from recycle.teacher.gate import BatchBoard

    now = [1000.0]
    board = BatchBoard(clock=lambda: now[0])
    assert board.totals() == {} and batches_note({}) == ""
    board.event("b1", 900.0)
    board.event("b2", 990.0)
    board.event("b2", None)
    board.event("b2", 990.0)  # polled again by a later client: still done
    totals = board.totals()
    assert totals["batches"] == {"submitted": 2, "in_progress": 1, "done": 1, "oldest_age_s": 100.0}
    assert batches_note(totals) == (
        "; batches 2 submitted, 1 in progress, 1 done, oldest in progress 100 s"
    )


@pytest.mark.integration  # the local teacher server
def test_the_budget_holds_each_requests_worst_case_at_the_batch_price(make_server) -> None:
    server = make_server(batch_latency_s=0.05)
    client = batch_client(server, None, max_cost_usd=0.0015)
    out, totals = run(client, 40)
    refused = [o for o in out if o.startswith(f"REJECTED {teacher_errors.BUDGET}")]
    assert refused and len(refused) < 40 and totals["budget_exhausted"]
    assert 0 < totals["cost_usd"] <= 0.0015
    assert len(server.batch.paid) == 40 - len(refused)  # refused requests never reached a batch


@pytest.mark.integration  # the local teacher server
def test_an_old_refused_batch_does_not_resend_what_a_newer_batch_answers(
    make_server, tmp_path
) -> None:
    """The journal holds an old batch (refused) with K and J, and a newer one with K in progress:
    K is answered by the newer batch alone, J goes into a new batch."""
    import openai

    from recycle.teacher.cache import cache_key

    server = make_server(batch_latency_s=0.5)
    client = batch_client(server, tmp_path)
    sampling = client.sampling(64, 0)
    bodies, keys = {}, []
    for i in (0, 1):
        p = prompt(i)
        keys.append(cache_key(client.cfg.model, p.messages, sampling, p.version, 0))
        bodies[keys[-1]] = {"model": client.cfg.model, "messages": p.messages, **sampling}
    k, j = keys
    sync = openai.OpenAI(base_url=server.base_url, api_key="EMPTY")
    journal = batch_files.BatchJournal(str(tmp_path / "batches"))

    def submit(batch_keys: list[str], at: float) -> None:
        data = b"".join(batch_files.batch_line(key, bodies[key]) for key in batch_keys)
        upload = sync.files.create(file=("x.jsonl", data), purpose="batch")
        batch = sync.batches.create(
            input_file_id=upload.id, endpoint=batch_files.CHAT_URL, completion_window="24h"
        )
        record = batch_files.BatchRecord(
            batch_files.request_set_hash(batch_keys), batch_keys, upload.id, batch.id, at
        )
        journal.write(record)

    server.batch.refuse_over(1)
    submit([k, j], 1.0)  # refused as too large
    server.batch.refuse_over(None)
    submit([k], 2.0)  # in progress when the rerun starts
    out, _ = run(client, 2)
    assert all("[Better Answer]" in o for o in out)
    assert server.batch.paid == {k: 1, j: 1} and server.batch.created == 3
