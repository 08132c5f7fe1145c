"""A clock the test moves by hand."""

from __future__ import annotations


class FakeClock:
    """A clock that moves only when told, standing in for ``time.monotonic`` or ``time.time``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
