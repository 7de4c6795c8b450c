"""The teacher stages end to end: real Ray Data on local Ray, the real openai client, the local
teacher server with injected faults, the `recycle reflect` command and its run directory."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from recycle import columns as C
from recycle.cli.main import main
from recycle.config import load_config
from recycle.rundir import read_manifest, read_outcome
from recycle.teacher import errors as teacher_errors
from recycle.teacher.reflect_dataset import reflect_and_write, teacher_stats
from recycle.teacher.session import teacher_summary
from recycle.testing import local_server

pytestmark = pytest.mark.integration

N_ROWS = 60
BAD_LINES = ['{"instruction": "no output here"}', "{not json"]
FAULT_RATES = {
    local_server.RATE_LIMIT: 0.05,
    local_server.SERVER_ERROR: 0.05,
    local_server.DROP: 0.03,
    local_server.SLOW: 0.02,
    local_server.NO_MARKERS: 0.05,
}
TEACHER = [
    "teacher.model=local-teacher", "teacher.api_key_env=RECYCLE_TEST_TEACHER_KEY",
    "teacher.timeout_s=1.0", "teacher.backoff_base_s=0.02", "teacher.backoff_max_s=0.3",
    "teacher.max_retries=6", "teacher.num_actors=2", "teacher.concurrency=8",
]  # fmt: skip


@pytest.fixture(scope="module")
def rows(alpaca_path: Path) -> list[dict]:
    return json.loads(alpaca_path.read_text())[:N_ROWS]


def write_input(rows: list[dict], folder: Path) -> Path:
    """Real Alpaca rows, one duplicate and two bad lines, as JSON Lines."""
    path = folder / "input.jsonl"
    lines = [json.dumps(r) for r in rows] + [json.dumps(rows[5])] + BAD_LINES
    path.write_text("\n".join(lines) + "\n")
    return path


def faults_with_bad_requests(bad_instructions: set[str], seed: int = 3):
    """20%-ish transient faults drawn per request, and a 400 for every request about chosen samples."""
    rng = random.Random(seed)

    def fault(messages, n):
        if any(b in messages[-1]["content"] for b in bad_instructions):
            return local_server.BAD_REQUEST
        u, edge = rng.random(), 0.0
        for kind, rate in FAULT_RATES.items():
            edge += rate
            if u < edge:
                return kind
        return None

    return fault


def kept_and_rejected(out: Path) -> tuple[list[dict], list[dict]]:
    return [
        (t.to_pylist() if t is not None else [])
        for t in (
            read_outcome(str(out), C.OUTCOME_KEPT),
            read_outcome(str(out), C.OUTCOME_REJECTED),
        )
    ]


def test_reflect_instruction_with_faults_then_rerun_from_cache(ray_local, rows, tmp_path) -> None:
    check_faulty_run_and_rerun(rows, tmp_path)


@pytest.mark.skipif(
    not os.environ.get("RECYCLE_TEACHER_DONE_WHEN"),
    reason="set RECYCLE_TEACHER_DONE_WHEN=1 (minutes)",
)
def test_done_when_1000_samples_with_20_percent_faults(ray_local, alpaca_path, tmp_path) -> None:
    summary = check_faulty_run_and_rerun(json.loads(alpaca_path.read_text())[:1000], tmp_path)
    print(json.dumps(summary, indent=1))


def check_faulty_run_and_rerun(rows: list[dict], tmp_path: Path) -> dict:
    """`recycle reflect instruction` with ~20% faults, then the same command again; assert it all adds up."""
    n = len(rows)
    bad = {rows[10]["instruction"], rows[20]["instruction"]}
    out = tmp_path / "run"
    args = [
        "reflect",
        "instruction",
        "--input",
        str(write_input(rows, tmp_path)),
        "--output",
        str(out),
        *TEACHER,
    ]
    with local_server.LocalTeacherServer(
        fault_fn=faults_with_bad_requests(bad), retry_after_s=0.05, slow_s=2.0
    ) as server:
        assert main([*args, f"teacher.base_url={server.base_url}"]) == 0
        first_requests, by_kind = server.stats.requests, dict(server.stats.by_kind)
        manifest = read_manifest(str(out))
        kept, rejected = kept_and_rejected(out)
        server.reset_stats()
        assert main([*args, f"teacher.base_url={server.base_url}"]) == 0
        assert server.stats.requests == 0  # everything answered before comes from the cache
    rerun = read_manifest(str(out))
    kept2, rejected2 = kept_and_rejected(out)

    # Every input row comes out exactly once, kept or rejected with a reason.
    assert manifest["invariant"] == {"ok": True, "input": n + 3, "accounted": n + 3}
    assert manifest["counts"]["kept"] == n - 2
    assert manifest["counts"]["rejected"] == {
        "duplicate": 1, "missing_field": 1, "unparseable_json": 1, teacher_errors.BAD_REQUEST: 2,
    }  # fmt: skip
    sources = [
        r[C.SOURCE] for r in kept + rejected
    ]  # one per raw row (a duplicate shares its sample_id)
    assert len(sources) == len(set(sources)) == n + 3
    teacher_rejects = [r for r in rejected if r[C.STAGE] == teacher_errors.STAGE_INSTRUCTION]
    assert {r[C.INSTRUCTION] for r in teacher_rejects} == bad
    assert all(
        r[C.REFLECT_INSTRUCTION_STATUS] == teacher_errors.BAD_REQUEST and r[C.DETAIL]
        for r in teacher_rejects
    )

    # Reflected rows carry the teacher's text; unparseable ones keep their own, with the reason.
    for row in kept:
        status = row[C.REFLECT_INSTRUCTION_STATUS]
        assert status == "ok" or status.startswith("parse_")
        if status == "ok":
            assert (
                row[C.INSTRUCTION].split()[0] in row[C.NEW_INSTRUCTION] and row[C.NEW_INPUT] == ""
            )
            assert (
                row[C.NEW_OUTPUT].startswith(row[C.OUTPUT][:40])
                and row[C.NEW_OUTPUT] != row[C.OUTPUT]
            )
        else:
            assert (row[C.NEW_INSTRUCTION], row[C.NEW_OUTPUT]) == (
                row[C.INSTRUCTION],
                row[C.OUTPUT],
            )

    # The teacher's accounting matches what the server saw and adds up.
    t = manifest["teacher"]
    assert t["requests"] == first_requests == sum(by_kind.values())
    assert t["retries"] == sum(
        by_kind.get(k, 0)
        for k in (
            local_server.RATE_LIMIT,
            local_server.SERVER_ERROR,
            local_server.DROP,
            local_server.SLOW,
        )
    )
    assert t["errors"].get("rate_limited", 0) == by_kind.get(local_server.RATE_LIMIT, 0)
    assert t["errors"].get("timeout", 0) == by_kind.get(local_server.SLOW, 0)
    assert t["errors"]["bad_request"] == 2
    assert (t["entered"], t["rejected"], t["reflected"] + t["not_reflected"]) == (n, 2, n - 2)
    assert t["invariant"]["ok"] and t["prompt_tokens"] > 0 and t["cost_usd"] == 0.0
    assert t["cache_writes"] == first_requests - t["retries"]

    # The rerun: nothing sent, the same rows, the same outcome.
    assert rerun["teacher"]["requests"] == 0
    assert rerun["teacher"]["cache_hits"] == t["cache_writes"]
    assert rerun["counts"] == manifest["counts"]
    key = C.SAMPLE_ID, C.NEW_INSTRUCTION, C.NEW_OUTPUT, C.REFLECT_INSTRUCTION_STATUS
    assert sorted(tuple(r[k] for k in key) for r in kept2) == sorted(
        tuple(r[k] for k in key) for r in kept
    )
    assert len(rejected2) == len(rejected)
    return {
        "server": {"requests": first_requests, "by_kind": by_kind, "rerun_requests": 0},
        "counts": manifest["counts"],
        "invariant": manifest["invariant"],
        "teacher": t,
        "timings_s": manifest["timings_s"],
        "rerun_timings_s": rerun["timings_s"],
        "rerun_teacher": {
            k: rerun["teacher"][k]
            for k in ("requests", "cache_hits", "reflected", "not_reflected", "rejected")
        },
    }


def normalized(rows: list[dict]) -> list[dict]:
    from recycle.data.normalize import normalize_record

    return [normalize_record(json.dumps(r), f"t:{i}") for i, r in enumerate(rows)]


def test_unauthorized_stops_the_job_naming_the_variable(
    ray_local, rows, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("RECYCLE_TEST_TEACHER_KEY", "sk-bad-0000")
    with local_server.LocalTeacherServer(faults={local_server.UNAUTHORIZED: 1.0}) as server:
        cfg = load_config(
            None, [*TEACHER, f"teacher.base_url={server.base_url}", f"output.dir='{tmp_path}'"]
        )
        samples = ray_local.data.from_items(normalized(rows[:16]))
        with pytest.raises(
            teacher_errors.TeacherAuthError, match="RECYCLE_TEST_TEACHER_KEY"
        ) as err:
            reflect_and_write(samples, cfg, cfg.teacher, "instruction")
        assert "sk-bad-0000" not in str(err.value)
        assert server.stats.requests <= cfg.teacher.num_actors * cfg.teacher.concurrency


def test_budget_stops_requests_and_reports_the_rest(ray_local, rows, tmp_path) -> None:
    out = tmp_path / "budget"
    price = [
        "teacher.prices.local-teacher.input_per_1m=1000",
        "teacher.prices.local-teacher.output_per_1m=1000",
    ]
    overrides = [
        *TEACHER,
        *price,
        "teacher.max_cost_usd=4",
        "teacher.max_tokens=256",
        "teacher.num_actors=1",
    ]
    with local_server.LocalTeacherServer() as server:
        cfg = load_config(
            None, [*overrides, f"teacher.base_url={server.base_url}", f"output.dir='{out}'"]
        )
        totals = reflect_and_write(
            ray_local.data.from_items(normalized(rows[:40])), cfg, cfg.teacher, "instruction"
        )
        sent = server.stats.requests
    stats = teacher_stats(str(out), "instruction", teacher_summary(cfg.teacher, totals, None))
    kept, rejected = kept_and_rejected(out)
    assert 0 < sent < 40 and len(kept) + len(rejected) == 40
    assert stats["reflected"] == len(kept) == sent
    assert stats["status"] == {"ok": sent, teacher_errors.BUDGET: 40 - sent}
    assert {r[C.REASON] for r in rejected} == {teacher_errors.BUDGET} and all(
        "max_cost_usd" in r[C.DETAIL] for r in rejected
    )
    assert stats["budget_exhausted"] and 0 < stats["cost_usd"] <= 4.0 and stats["invariant"]["ok"]


def test_response_reflection_reads_the_chosen_columns(ray_local, rows) -> None:
    from recycle.config.teacher import TeacherConfig
    from recycle.teacher.gate import GateSettings, job_gate_actor
    from recycle.teacher.stages import reflect_response

    samples = [
        {**r, "x1": f"Improve: {r[C.INSTRUCTION]}", "y1": f"Draft: {r[C.OUTPUT]}"}
        for r in normalized(rows[:12])
    ]
    seen: list[str] = []
    with local_server.LocalTeacherServer(
        fault_fn=lambda m, n: seen.append(m[-1]["content"]) or None
    ) as server:
        cfg = TeacherConfig(
            base_url=server.base_url,
            model=server.model,
            api_key_env="RECYCLE_TEST_TEACHER_KEY",
            num_actors=1,
        )
        gate = job_gate_actor(
            "test-gate-response", GateSettings.from_config(cfg, 0.0)
        )  # the driver's
        ds = reflect_response(
            ray_local.data.from_items(samples), cfg, "test-gate-response", None, "x1", C.INPUT, "y1"
        )
        out = ds.to_pandas()
        ray_local.kill(gate)
    assert len(out) == 12 and set(out[C.REFLECT_RESPONSE_STATUS]) == {"ok"}
    assert all(b.startswith("Draft: ") for b in out[C.BETTER_OUTPUT])
    with_input = [s for s in samples if s[C.INPUT]]
    assert sum("[The Start of Input]" in text for text in seen) == len(with_input) > 0
    assert all("Improve: " in text for text in seen)


def test_reflect_exits_3_when_samples_are_left_for_a_rerun(ray_local, rows, tmp_path, capsys):
    """As `recycle run` does: a budget reached leaves samples to retry, and the exit code says so."""
    out = tmp_path / "left"
    args = [
        "reflect", "instruction", "--input", str(write_input(rows[:12], tmp_path)),
        "--output", str(out), *TEACHER, "teacher.num_actors=1", "teacher.max_tokens=256",
        "teacher.prices.local-teacher.input_per_1m=1000",
        "teacher.prices.local-teacher.output_per_1m=1000", "teacher.max_cost_usd=2",
    ]  # fmt: skip
    with local_server.LocalTeacherServer() as server:
        code = main([*args, f"teacher.base_url={server.base_url}"])
    err = capsys.readouterr().err
    retry = read_manifest(str(out))["counts"]["retry"]
    assert code == 3 and retry.get(teacher_errors.BUDGET, 0) > 0, err
    assert "samples were left for a rerun" in err and "recycle reflect instruction" in err


class Overlap:
    """A stage that says how many of its actor's calls were running when each of its batches ran."""

    def __init__(self, teacher: dict) -> None:
        self.running = 0

    async def __call__(self, batch):
        import asyncio

        self.running += 1
        seen = self.running
        await asyncio.sleep(0.4)
        seen = max(seen, self.running)
        self.running -= 1
        return batch.append_column("overlap", [[seen] * batch.num_rows])


def test_each_teacher_actor_runs_calls_per_actor_batches_at_once(ray_local) -> None:
    """teacher.calls_per_actor reaches the actors on this Ray and on the floor's (2.54), whose
    ActorPoolStrategy has no max_concurrent_calls_per_actor: it is the actors' max_concurrency."""
    import ray

    from recycle.teacher.stages import map_teacher_pool

    cfg = load_config(
        None, ["teacher.num_actors=1", "teacher.calls_per_actor=3", "teacher.batch_size=1"]
    ).teacher
    ds = ray.data.from_items([{"i": i} for i in range(9)], override_num_blocks=9)
    seen = map_teacher_pool(ds, Overlap, cfg, {}).take_all()
    assert len(seen) == 9 and max(row["overlap"] for row in seen) == 3
