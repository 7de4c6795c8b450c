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
