"""Accounting of teacher use and the budget stop. Pure, single-threaded: the gate serializes calls."""

from __future__ import annotations

from collections import Counter
from typing import Any

from recycle.config.teacher import ModelPrice

# Counter names, as they appear under "teacher" in the manifest.
REQUESTS = "requests"  # HTTP requests sent (every attempt that reached the endpoint)
NOT_SENT = "not_sent"  # attempts whose connection was never made (refused...): not in REQUESTS
RETRIES = "retries"  # requests repeated after 429 / 5xx / timeout / dropped connection
PARSE_RETRIES = "parse_retries"  # new requests because an answer did not follow the format
CACHE_HITS = "cache_hits"
CACHE_WRITES = "cache_writes"
PROMPT_TOKENS = "prompt_tokens"
COMPLETION_TOKENS = "completion_tokens"
BUDGET_REFUSALS = "budget_refusals"
UNSETTLED = "unsettled"  # requests sent whose settlement never came (counted in REQUESTS too)
UNSETTLED_COST = "unsettled_cost_usd"  # their reserved worst case (counted in cost_usd too)
ERROR_PREFIX = "error_"  # error_rate_limited, error_server_error, error_timeout, ...


def cost_usd(price: ModelPrice | None, prompt_tokens: float, completion_tokens: float) -> float:
    """What a request cost; 0 when the model has no price (local or unknown)."""
    if price is None:
        return 0.0
    return (prompt_tokens * price.input_per_1m + completion_tokens * price.output_per_1m) / 1e6


class Ledger:
    """Job-wide totals and the budget: cost is reserved before a request and settled after it.

    Reserving the worst case (prompt estimate + max_tokens) before sending means the spend never
    passes `max_cost_usd`, however many requests are in flight. Once a reservation is refused the
    budget stays exhausted: later samples are reported as "budget" instead of trickling through.

    Every request is counted when it leaves (`sent`), not only when its settlement arrives: a
    request whose settlement never comes (its actor's node died with the answer, a stopped job
    killed it in flight) was still paid at the endpoint. The totals count it under "requests"
    and "unsettled", and its reservation, the worst case it can have cost, under "cost_usd" (and
    "unsettled_cost_usd"), so the manifest says what was paid and a resumed run's budget counts it.
    """

    def __init__(
        self, price: ModelPrice | None, max_cost_usd: float | None, prior_usd: float = 0.0
    ):
        self.price = price
        self.max_cost_usd = max_cost_usd
        self.prior_usd = prior_usd  # spent by earlier invocations of a resumed run
        self.counts: Counter[str] = Counter()
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.exhausted = False
        self.unsettled = 0  # requests sent whose settlement has not arrived (yet)

    def sent(self) -> None:
        """A request leaves for the endpoint (after its reservation, when there is a budget)."""
        self.unsettled += 1

    def reserve(self, cost: float) -> bool:
        """Hold `cost` USD for a request about to be sent; False when that would pass the budget."""
        if self.max_cost_usd is None:
            return True
        committed = self.prior_usd + self.spent_usd + self.reserved_usd
        if self.exhausted or committed + cost > self.max_cost_usd:
            self.exhausted = True
            self.counts[BUDGET_REFUSALS] += 1
            return False
        self.reserved_usd += cost
        return True

    def settle(self, counts: dict[str, float], reserved_cost: float) -> None:
        """Add a request's counters and its real cost; release what was reserved for it."""
        self.counts.update(counts)
        self.unsettled = max(0, self.unsettled - int(counts.get(REQUESTS, 0)))
        self.reserved_usd = max(0.0, self.reserved_usd - reserved_cost)
        self.spent_usd += cost_usd(
            self.price, counts.get(PROMPT_TOKENS, 0), counts.get(COMPLETION_TOKENS, 0)
        )

    def totals(self) -> dict[str, Any]:
        """Everything counted so far, with cost and budget state; the requests sent and not
        settled are in "requests" and (at their reservation) in "cost_usd" (see the class doc)."""
        out: dict[str, Any] = {
            k: int(v) for k, v in sorted(self.counts.items()) if not k.startswith(ERROR_PREFIX)
        }
        out[REQUESTS] = out.get(REQUESTS, 0) - out.get(NOT_SENT, 0) + self.unsettled
        out[UNSETTLED] = self.unsettled
        out[UNSETTLED_COST] = round(self.reserved_usd, 6)
        for key in (
            REQUESTS,
            RETRIES,
            PARSE_RETRIES,
            CACHE_HITS,
            CACHE_WRITES,
            PROMPT_TOKENS,
            COMPLETION_TOKENS,
        ):
            out.setdefault(key, 0)
        out["errors"] = {
            k[len(ERROR_PREFIX) :]: int(v)
            for k, v in sorted(self.counts.items())
            if k.startswith(ERROR_PREFIX)
        }
        out["cost_usd"] = round(self.spent_usd + self.reserved_usd, 6)
        out["priced"] = self.price is not None
        out["max_cost_usd"] = self.max_cost_usd
        out["budget_exhausted"] = self.exhausted
        return out
