"""The chaos benchmark's counting: samples lost against what the input causes, the last line."""

from __future__ import annotations

from recycle.bench.chaos import (
    ChaosPlan,
    input_rejects,
    paid_twice_by_event,
    report_lines,
    samples_lost,
    verdict,
)


def counts(kept: int, dropped: dict, rejected: dict) -> dict:
    total = kept + sum(dropped.values()) + sum(rejected.values())
    return {"input": total, "kept": kept, "dropped": dropped, "rejected": rejected}


def test_a_reject_the_undisturbed_run_also_gave_is_the_input_s_not_a_loss():
    reference = counts(8, {}, {"duplicate": 1, "teacher_unavailable": 1})
    allowed = input_rejects(reference)
    assert allowed == {"duplicate": 1}  # a transient reject is never the input's doing
    assert samples_lost(counts(7, {"ifd_not_below_one": 2}, {"duplicate": 1}), 10, allowed) == 0
    # one more duplicate than the input causes, and a transient reject left for a rerun: lost
    assert samples_lost(counts(6, {}, {"duplicate": 2, "teacher_unavailable": 2}), 10, allowed) == 3
    assert samples_lost(counts(6, {"ifd_not_below_one": 1}, {}), 10, allowed) == 3  # no outcome


def summary(requests: int, kept: int) -> dict:
    return {
        "counts": counts(kept, {"ifd_not_below_one": 10 - kept}, {}), "invariant_ok": True,
        "requests": requests, "unsettled": 2, "not_sent": 5, "errors": {},
        "invocations": [
            {"status": "killed", "requests": 40},
            {"status": "finished", "requests": requests - 40},
        ],
    }  # fmt: skip


def test_the_last_line_says_each_goal_and_both_request_counts():
    result = {
        "plan": ChaosPlan(rows=10),
        "undisturbed": {"wall_s": 50.0, "manifest": summary(20, 6)},
        "chaos": {
            "manifest": summary(25, 5), "paid_twice": 1, "prompts": 20, "server_requests": 23,
            "wall_s": 80.0, "attempts": [{}, {}], "rc": 0, "killed_when": 108.0,
            "dropped_at_outage": 2,
        },
    }  # fmt: skip
    assert verdict(result) == (
        "chaos 10 rows: samples lost 0, prompts paid twice 1 of 20 (5.00%), manifest invariant ok,"
        " teacher requests ledger 25 vs server 23 (+2; 5 refused in the outage, not counted; 2"
        " unsettled, counted), wall 80 s vs undisturbed 50 s (x1.60), 2 invocations, exit 0"
    )


def test_the_report_lists_each_invocation_and_the_faults_before_the_verdict():
    attempt = {"began": 0.0, "ended": 30.0, "rc": -9, "requests": 12}
    result = {
        "plan": ChaosPlan(rows=10),
        "undisturbed": {"wall_s": 50.0, "rc": 0, "server_requests": 20, "manifest": summary(20, 6)},
        "chaos": {
            "manifest": summary(25, 5), "paid_twice": 1, "prompts": 20, "server_requests": 23,
            "wall_s": 80.0, "attempts": [attempt, {**attempt, "rc": 0, "began": 31.0}], "rc": 0,
            "lost_actors": 1, "lost_at": 5, "killed_at": 8, "outage_s": 30.2,
            "outage_attempt": 2, "server_by_kind": {"ok": 21, "server_error": 2},
            "killed_when": None,
            "paid_twice_by_event": {"kill": 1}, "dropped_at_outage": 0,
        },
    }  # fmt: skip
    lines = report_lines(result)
    assert lines[1:4] == [
        "undisturbed     50.0     0              20",
        "chaos #1        30.0    -9              12",
        "chaos #2        -1.0     0              12",
    ]
    assert lines[4] == (
        "faults: 10% of requests answered 500; node with 1 teacher actor(s) lost at 5 answers;"
        " driver SIGKILLed at 8 answers; outage of 30 s in invocation 2"
    )
    assert lines[-1] == verdict(result)


def test_an_answer_paid_again_is_put_down_to_the_fault_that_lost_the_first():
    log = [(1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "a"), (6.0, "b"), (7.0, "c"), (8.0, "c")]
    log += [(5.5, "d"), (9.0, "d"), (20.0, "e"), (30.0, "e")]
    events = {"node": 1.5, "kill": 5.0, "outage": None}
    # a: 1 and 4, the node lost at 1.5; b: 2 and 6, the node lost 0.5 s before (b in flight);
    # c: 3, 7 and 8: the kill at 5 between the first two, nothing near the last two; d: answered
    # 0.5 s after the kill (in flight then), again at 9; e: nothing near
    assert paid_twice_by_event(log, events, in_flight_s=1.0) == {"node": 2, "kill": 2, "none": 2}
