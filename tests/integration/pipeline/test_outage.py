"""A teacher outage mid-run costs time, not samples; one past teacher.max_outage_s stops the run,
and the rerun finishes the rest without asking again what was answered.

The issue asks for a 30 s outage; 12 s exercises the same mechanism (the circuit opens after a
few failures, requests wait, probes back off, the circuit closes on the first answer) in less CI
time: without the circuit every in-flight row spends its 6 retries (backoff capped at 0.5 s here)
in about 3 s and is rejected as teacher_unavailable.
"""

import json
from collections import Counter

import pytest

from recycle import exit_codes
from recycle.cli.main import main
from recycle.commands.pipeline import run_pipeline
from recycle.rundir import read_manifest
from recycle.teacher import errors as teacher_errors
from recycle.testing.local_server import SERVER_ERROR, LocalTeacherServer
from tests.integration.pipeline.conftest import RecordingTeacher, pipeline_config
from tests.support.tiny_model import alpaca_rows

pytestmark = pytest.mark.integration
SAMPLES = 40  # small_dataset: 40 valid rows, a duplicate and 3 bad rows (4 validation rejects)
CONCURRENCY = 8
VALIDATION_REJECTS = {"duplicate", "missing_field", "unparseable_json", "empty_instruction"}


def config(small_dataset, out, student, server, *overrides):
    return pipeline_config(
        small_dataset, out, student, server.base_url,
        f"teacher.concurrency={CONCURRENCY}", "teacher.probe_max_s=1",
        "selection.require_response_reflected=false", *overrides,
    )  # fmt: skip


def test_an_outage_shorter_than_the_limit_rejects_nothing(
    ray_local, tmp_path, small_dataset, tiny_model_dir
):
    with LocalTeacherServer(latency_s=0.1) as server:
        outage = server.outage(12.0, after_requests=30)
        manifest = run_pipeline(config(small_dataset, tmp_path / "run", tiny_model_dir, server))
        outage.join()
    assert outage.began is not None and outage.ended - outage.began >= 12.0  # it happened mid-run
    counts, teacher = manifest["counts"], manifest["teacher"]
    assert teacher_errors.UNAVAILABLE not in counts["rejected"] and "retry" not in counts
    assert set(counts["rejected"]) == VALIDATION_REJECTS  # only the bad input rows
    assert counts["kept"] + sum(counts["dropped"].values()) == SAMPLES
    assert manifest["invariant"]["ok"] and manifest["status"] == "finished"
    assert teacher["outages"] >= 1 and teacher["longest_outage_s"] >= 10.0
    assert teacher["errors"].get("connection", 0) >= 1 and teacher["circuit"] == "closed"


def test_an_outage_past_the_limit_stops_and_the_rerun_finishes_the_rest(
    ray_local, tmp_path, small_dataset, tiny_model_dir
):
    recorder, out = RecordingTeacher(), tmp_path / "run"
    with LocalTeacherServer(answer=recorder, latency_s=0.1) as server:
        cfg = config(small_dataset, out, tiny_model_dir, server, "teacher.max_outage_s=3")
        outage = server.outage(8.0, after_requests=30)
        with pytest.raises(teacher_errors.TeacherOutageError) as err:
            run_pipeline(cfg)
        stopped = read_manifest(str(out))
        outage.join()  # the teacher is back
        manifest = run_pipeline(cfg)

    message = str(err.value)
    assert server.base_url in message and "max_outage_s=3" in message
    assert "run the same command again" in message and "samples are finished" in message
    assert err.value.exit_code == 4
    assert stopped["status"] == "stopped" and stopped["counts"]["pending"] > 0
    assert stopped["invariant"]["ok"] and stopped["teacher"]["errors"]["connection"] >= 1

    counts = manifest["counts"]
    assert (
        manifest["invariant"]["ok"] and manifest["status"] == "finished" and "retry" not in counts
    )
    assert counts["kept"] + sum(counts["dropped"].values()) == SAMPLES
    assert [i["status"] for i in manifest["invocations"]] == ["stopped", "finished"]
    first, second = (i["teacher"]["requests"] for i in manifest["invocations"])
    assert manifest["teacher"]["requests"] == first + second
    # What was paid, counted: the gate counts each request before it leaves, so one the stopped
    # run's actors sent after the job stopped is in its manifest too (as unsettled; before, the
    # CI run once saw 88 arrivals for 32 + 55 counted): nothing reaches the server uncounted.
    # Not equality: a connection error is counted as a request, and it may have reached the
    # server (which went down with it in flight, answered and could not deliver: 8 here, the
    # stage's concurrency) or not (refused while the server was down).
    connection = sum(i["teacher"]["errors"].get("connection", 0) for i in manifest["invocations"])
    arrived = server.stats.requests
    assert first + second - connection <= arrived <= first + second, (arrived, connection)

    # Counted at the server: every sample's two prompts answered, none twice except the few in
    # flight when the server went down (at most the teacher stages' concurrency, 2 x 8).
    answered = Counter(recorder.answered)
    assert len(answered) == 2 * SAMPLES
    assert sum(n - 1 for n in answered.values()) <= 2 * CONCURRENCY


class FailingFor:
    """500 on every prompt that names one of `texts`, while `on`."""

    def __init__(self, texts: list[str]):
        self.texts, self.on = texts, True

    def __call__(self, messages, n):
        body = json.dumps(messages)
        return (
            SERVER_ERROR
            if self.on and any(json.dumps(t)[1:-1] in body for t in self.texts)
            else None
        )


def test_transient_rejects_exit_3_and_a_rerun_retries_only_them(
    ray_local, tmp_path, small_dataset, tiny_model_dir, capsys
):
    """Rows whose requests keep failing while the endpoint is otherwise up (so the circuit stays
    closed) are rejected as teacher_unavailable, left for a rerun, and retried by it alone."""
    failing = FailingFor([r["instruction"] for r in alpaca_rows(40)[:5]])
    recorder, out = RecordingTeacher(), tmp_path / "run"
    args = [
        "run", f"data.input='{small_dataset}'", f"output.dir='{out}'",
        f"student.model='{tiny_model_dir}'", "teacher.model=local-teacher",
        "teacher.timeout_s=2", "teacher.backoff_base_s=0.05", "teacher.backoff_max_s=0.2",
        "teacher.max_retries=1", "teacher.outage_after_failures=1000", "teacher.num_actors=1",
        "student.max_length=1024", "student.num_actors=1", "output.report_stats=false",
        "selection.require_response_reflected=false",
    ]  # fmt: skip
    with LocalTeacherServer(answer=recorder, fault_fn=failing) as server:
        args.append(f"teacher.base_url={server.base_url}")
        assert main(args) == exit_codes.INCOMPLETE
        first = read_manifest(str(out))
        assert "5 samples were left for a rerun" in capsys.readouterr().err
        failing.on, recorder.answered = False, []
        assert main(args) == exit_codes.OK
        retried = read_manifest(str(out))

    assert first["counts"]["retry"] == {teacher_errors.UNAVAILABLE: 5} and first["invariant"]["ok"]
    counts = retried["counts"]
    assert "retry" not in counts and teacher_errors.UNAVAILABLE not in counts["rejected"]
    assert counts["kept"] + sum(counts["dropped"].values()) == SAMPLES
    assert len(recorder.answered) == len(set(recorder.answered)) == 2 * 5  # only those 5 samples
    assert [i["status"] for i in retried["invocations"]] == ["finished"] * 2
    assert retried["teacher"]["requests"] == sum(
        i["teacher"]["requests"] for i in retried["invocations"]
    )


def test_retry_rejected_false_keeps_transient_rejects_as_done(ray_local, tmp_path):
    import pyarrow as pa

    from recycle import columns as C
    from recycle.pipeline.resume import remaining
    from recycle.rundir import count_outcomes, write_outcome_batch

    run = str(tmp_path)
    rows = {"k": C.OUTCOME_KEPT, "u": C.OUTCOME_REJECTED, "f": C.OUTCOME_REJECTED}
    reasons = {"k": "", "u": teacher_errors.UNAVAILABLE, "f": teacher_errors.BAD_REQUEST}
    write_outcome_batch(
        pa.table({C.SAMPLE_ID: list(rows), C.OUTCOME: list(rows.values()),
                  C.REASON: list(reasons.values())}), run,
    )  # fmt: skip
    ds = ray_local.data.from_items([{C.SAMPLE_ID: i} for i in ("k", "u", "f", "new")])

    def todo(retry: bool) -> list[str]:
        return sorted(r[C.SAMPLE_ID] for r in remaining(ds, run, "part", retry).take_all())

    assert todo(False) == ["new"] and count_outcomes(run)["retry"] == {
        teacher_errors.UNAVAILABLE: 1
    }
    assert todo(True) == ["new", "u"] and "retry" not in count_outcomes(run)  # retry/ cleared
