"""Token buckets per key, in memory on one node: how often an open endpoint may be hit."""

from __future__ import annotations

import math


class TokenBuckets:
    """`burst` requests at once per key, refilled at `rate` per second.

    The table is bounded: past `max_keys` it forgets the keys whose bucket is full
    again (forgetting them changes nothing), and if every key is busy, all of them
    (a flood of distinct keys must not grow memory without end)."""

    def __init__(self, *, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, now: float) -> float:
        """Spend one request of `key` at `now` (seconds): 0 if allowed, else the
        seconds until the next one would be."""
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._forget_idle(now)
        self._buckets[key] = (tokens - 1, now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        refill = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(wait: float) -> str:
    """A Retry-After value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(wait)))
