"""Limits the simulator enforces per API key: a request rate (token bucket) and unfinished operations.

The rate limit runs on the real monotonic clock, not the sim clock: it models how fast a client
may call, and a benchmark measures that in real seconds. ``POST /_sim/clock/advance`` moves
operations forward but never refills a bucket.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


def key_id(api_key: str) -> str:
    """A short fingerprint of an API key, so the limits' bookkeeping never holds the key itself."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def retry_after(seconds: float) -> int:
    """A ``Retry-After`` value: whole seconds, rounded up, never below 1 (0 would invite a hot loop)."""
    return max(1, math.ceil(seconds))


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; a request takes one or is refused."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float | None:
        """None if a token was taken; otherwise the seconds until the next token is available."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return (1 - self._tokens) / self.rate


class RateLimiter:
    """One bucket per API key, rebuilt (full) whenever the configured rate or burst changes."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def wait_needed(self, key: str, rate: float | None, burst: int) -> float | None:
        """None if a request with ``key`` may go ahead now, else the seconds until it could."""
        if rate is None:
            return None
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or (bucket.rate, bucket.burst) != (rate, burst):
                bucket = self._buckets[key] = TokenBucket(rate, burst, self._clock)
        return bucket.take()


class TooManyUnfinished(Exception):
    """A create refused because the key already has ``limit`` unfinished operations."""

    def __init__(self, limit: int, retry_after_seconds: int) -> None:
        super().__init__(
            f"too many unfinished operations: at most {limit} per API key may be unfinished "
            "(a simulated limit); retry when one has finished"
        )
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds
