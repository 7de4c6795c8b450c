"""What a local teacher server saw: requests by kind, arrival and finish times, concurrency."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ServerStats:
    """What the server saw: requests by what it answered, arrival and finish times (monotonic)."""

    requests: int = 0
    by_kind: Counter = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)
    finishes: list[float] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def throughput(self) -> float:
        """Answers per second from the first arrival to the last finish (ramp-up and drain included)."""
        if len(self.finishes) < 2:
            return 0.0
        return len(self.finishes) / (max(self.finishes) - min(self.arrivals))

    def steady_throughput(self, trim: float = 0.05) -> float:
        """Answers per second between the `trim` and `1 - trim` quantiles of finish times (no ramp-up or drain)."""
        done = sorted(self.finishes)
        lo, hi = int(len(done) * trim), int(len(done) * (1 - trim)) - 1
        if hi <= lo or done[hi] <= done[lo]:
            return 0.0
        return (hi - lo) / (done[hi] - done[lo])

    def mean_in_flight(self) -> float:
        """Requests the server held on average over the run (Little's law: busy time / span)."""
        if len(self.finishes) < 2 or len(self.finishes) != len(self.arrivals):
            return 0.0
        return (sum(self.finishes) - sum(self.arrivals)) / (max(self.finishes) - min(self.arrivals))

    def to_json(self) -> dict[str, Any]:
        """Plain data, for the /stats endpoint."""
        return {
            "requests": self.requests,
            "by_kind": dict(self.by_kind),
            "arrivals": list(self.arrivals),
            "finishes": list(self.finishes),
            "max_in_flight": self.max_in_flight,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerStats:
        """Stats read back from the /stats endpoint of a server in another process."""
        return cls(
            requests=data["requests"],
            by_kind=Counter(data["by_kind"]),
            arrivals=data["arrivals"],
            finishes=data["finishes"],
            max_in_flight=data["max_in_flight"],
        )

    def max_in_window(self, window_s: float) -> int:
        """The most requests that arrived within any `window_s` seconds."""
        times, best, lo = sorted(self.arrivals), 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] > window_s:
                lo += 1
            best = max(best, hi - lo + 1)
        return best
