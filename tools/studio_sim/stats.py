"""Counters a benchmark reads at ``GET /_sim/stats``: requests per wall-clock second, 429s, creates.

Windows are whole seconds of the real wall clock (``time.time()``, floored), keyed by their start
in epoch seconds, so a benchmark can line them up with its own timestamps. The sim clock plays no
part: advancing it must not make a client look faster or slower than it was.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from typing import Any, Literal

from studio_sim.limits import Clock

# Why a 429 was answered: the token bucket, the cap on unfinished operations, or the rate_429 dice.
RejectionCause = Literal["rate_limit", "unfinished_operations", "injected"]
REJECTION_CAUSES: tuple[RejectionCause, ...] = ("rate_limit", "unfinished_operations", "injected")
CREATE_KINDS = ("on_figure", "flat_lay", "on_figure_regenerate")


class Stats:
    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.since = clock()
        self._per_second: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self._total_per_second: Counter[int] = Counter()
        self._rejections: Counter[str] = Counter()
        self._creates: Counter[str] = Counter()

    def record_request(self, endpoint: str) -> None:
        """One request to ``endpoint`` (``METHOD /path-template``), whatever it will be answered."""
        window = int(self._clock())
        with self._lock:
            self._per_second[endpoint][window] += 1
            self._total_per_second[window] += 1

    def record_rejection(self, cause: RejectionCause) -> None:
        with self._lock:
            self._rejections[cause] += 1

    def record_create(self, kind: str) -> None:
        """An operation actually created (a refused or invalid create is not counted)."""
        with self._lock:
            self._creates[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        """The JSON of ``GET /_sim/stats`` (its shape is documented in the simulator's README)."""
        with self._lock:
            return {
                "since": self.since,
                "window_seconds": 1,
                "requests": {
                    "total": _series(self._total_per_second),
                    "by_endpoint": {
                        endpoint: _series(windows) for endpoint, windows in sorted(self._per_second.items())
                    },
                },
                "rate_limited": {
                    "total": sum(self._rejections.values()),
                    **{cause: self._rejections[cause] for cause in REJECTION_CAUSES},
                },
                "creates": {
                    "total": sum(self._creates.values()),
                    **{kind: self._creates[kind] for kind in CREATE_KINDS},
                },
            }


def _series(windows: Counter[int]) -> dict[str, Any]:
    """Count, busiest second and the per-second histogram; seconds without requests are left out."""
    return {
        "count": sum(windows.values()),
        "peak_per_second": max(windows.values(), default=0),
        "per_second": {str(second): count for second, count in sorted(windows.items())},
    }
