"""The ledger (totals, cost, budget reservations) and the gate that combines it with the limiter."""

from __future__ import annotations

import pytest

from recycle.config.teacher import ModelPrice
from recycle.teacher import ledger as teacher_ledger
from recycle.teacher.gate import GateCore, GateSettings

PRICE = ModelPrice(input_per_1m=2.0, output_per_1m=8.0)


def test_cost_uses_the_price_table() -> None:
    assert teacher_ledger.cost_usd(PRICE, 1_000_000, 500_000) == pytest.approx(6.0)
    assert teacher_ledger.cost_usd(None, 10**9, 10**9) == 0.0


def test_totals_sum_counters_and_cost() -> None:
    ledger = teacher_ledger.Ledger(PRICE, None)
    ledger.settle(
        {
            teacher_ledger.REQUESTS: 1,
            teacher_ledger.PROMPT_TOKENS: 1000,
            teacher_ledger.COMPLETION_TOKENS: 200,
        },
        0.0,
    )
    ledger.settle(
        {teacher_ledger.REQUESTS: 1, teacher_ledger.RETRIES: 1, "error_rate_limited": 1}, 0.0
    )
    ledger.settle({teacher_ledger.CACHE_HITS: 3}, 0.0)
    t = ledger.totals()
    assert (t["requests"], t["retries"], t["cache_hits"], t["prompt_tokens"]) == (2, 1, 3, 1000)
    assert t["errors"] == {"rate_limited": 1}
    assert t["cost_usd"] == pytest.approx((1000 * 2 + 200 * 8) / 1e6)
    assert t["priced"] and not t["budget_exhausted"]


def test_budget_counts_in_flight_reservations_and_stays_exhausted() -> None:
    ledger = teacher_ledger.Ledger(PRICE, max_cost_usd=1.0)
    assert ledger.reserve(0.4) and ledger.reserve(0.4)  # two in flight: 0.8 held
    assert not ledger.reserve(0.4)  # 1.2 > 1.0 even though nothing is spent yet
    ledger.settle({teacher_ledger.PROMPT_TOKENS: 50_000}, 0.4)  # one came back cheaper: $0.1
    assert not ledger.reserve(0.05)  # exhausted is final: later samples are "budget"
    assert ledger.totals()["budget_refusals"] == 2
    assert ledger.spent_usd + ledger.reserved_usd <= 1.0


def test_gate_refuses_over_budget_and_paces_under_the_rate() -> None:
    now = [0.0]
    gate = GateCore(
        GateSettings(requests_per_minute=120, price=PRICE, max_cost_usd=1.0), clock=lambda: now[0]
    )
    waits = [gate.reserve(0, 0.3) for _ in range(3)]
    assert waits == pytest.approx([0.0, 0.5, 1.0])  # 2 requests/s, evenly paced
    assert gate.reserve(0, 0.3) is None
    gate.settle({teacher_ledger.REQUESTS: 3}, 0.9, 0.0)
    assert gate.totals()["requests"] == 3 and gate.totals()["budget_exhausted"]


def test_a_request_sent_and_never_settled_is_counted_at_its_reservation() -> None:
    """A node lost with an answer it received: the endpoint was paid, no settlement ever comes.
    The totals count it as a request, unsettled, at the worst case reserved for it."""
    gate = GateCore(GateSettings(price=PRICE, max_cost_usd=1.0))
    assert gate.reserve(0, 0.3) == 0.0 and gate.reserve(0, 0.2) == 0.0  # two leave
    gate.settle(
        {teacher_ledger.REQUESTS: 1, teacher_ledger.PROMPT_TOKENS: 10_000}, 0.3, 0.0
    )  # one comes back: $0.02; the other's actor died with its answer
    t = gate.totals()
    assert (t["requests"], t["unsettled"]) == (2, 1)
    assert t["unsettled_cost_usd"] == pytest.approx(0.2)
    assert t["cost_usd"] == pytest.approx(0.02 + 0.2)  # the spend is never under-reported


def test_without_a_rate_limit_or_budget_a_request_is_counted_when_it_leaves() -> None:
    gate = GateCore(GateSettings(price=PRICE))  # no reservation: `hold` counts the request
    for _ in range(3):
        gate.hold()
    gate.settle({teacher_ledger.REQUESTS: 1, teacher_ledger.COMPLETION_TOKENS: 100}, 0.0, 0.0)
    gate.settle({teacher_ledger.REQUESTS: 1, teacher_ledger.RETRIES: 1}, 0.0, 0.0)
    t = gate.totals()
    assert (t["requests"], t["unsettled"], t["retries"]) == (3, 1, 1)
    assert t["cost_usd"] == pytest.approx(100 * 8 / 1e6)  # no reservation: priced as settled
    gate.settle({teacher_ledger.REQUESTS: 1}, 0.0, 0.0)  # it came after all: counted once
    assert (gate.totals()["requests"], gate.totals()["unsettled"]) == (3, 0)


def test_a_budgeted_request_is_counted_by_its_reservation_not_by_hold() -> None:
    gate = GateCore(GateSettings(price=PRICE, max_cost_usd=1.0))
    gate.hold()  # with a budget, `reserve` follows and counts the request
    assert gate.totals()["unsettled"] == 0
    assert gate.reserve(0, 2.0) is None  # refused: never leaves, never counted
    assert (gate.totals()["requests"], gate.totals()["unsettled"]) == (0, 0)
