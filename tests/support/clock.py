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


class SleepingClock:
    """An epoch clock whose ``sleep`` moves it and notes how long each sleep was, standing in for
    ``time.time`` and ``time.sleep`` together (the request budget takes both)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds
