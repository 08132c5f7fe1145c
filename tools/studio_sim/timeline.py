"""The simulator's clock and the status an operation shows at a given moment.

Status is a pure function of the operation's plan and the time since it was created, so tests
move operations forward by advancing the clock instead of sleeping.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from studio_core.aiuta.answers import OperationStatus
from studio_core.aiuta.requests import OperationPriority
from studio_sim.settings import DurationDistribution, Outcome, SimSettings

CREATED_SHARE = 0.1
PAUSE_AT_SHARE = 0.5
# ``[sim:FAILED]`` applies to every kind; ``[sim:flat_lay:FAILED]`` only to that kind's operations.
# ``:once`` (``[sim:flat_lay:FAILED:once]``) forces it on the product's first operation of the kind
# only: a retry of that kind then takes the settings' outcome.
OUTCOME_TOKEN = re.compile(
    r"\[sim:(?:(on_figure|flat_lay):)?(" + "|".join(o.value for o in Outcome) + r")(:once)?\]"
)

OUTCOME_ERRORS = {
    Outcome.CANCELLED: "simulated: the operation was cancelled",
    Outcome.ABORTED: "simulated: the operation was aborted by the service",
}


class SimClock:
    """Wall time plus an offset that tests push forward; can be frozen so only ``advance`` moves it."""

    def __init__(self, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = time.time() if frozen else None

    def now(self) -> float:
        with self._lock:
            base = self._frozen_at if self._frozen_at is not None else time.time()
            return base + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
        return self.now()

    def set_frozen(self, frozen: bool) -> None:
        with self._lock:
            if frozen and self._frozen_at is None:
                self._frozen_at = time.time()
            elif not frozen and self._frozen_at is not None:
                # Keep sim time continuous when thawing.
                self._offset += self._frozen_at - time.time()
                self._frozen_at = None

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Plan:
    """How one operation will unfold, fixed when it is created."""

    outcome: Outcome
    duration: float
    paused_seconds: float = 0.0
    early_error: str | None = None
    failure_error: str = ""

    def status_at(self, elapsed: float) -> OperationStatus:
        start = CREATED_SHARE * self.duration
        if elapsed < start:
            return OperationStatus.CREATED
        if self.early_error is not None:
            return OperationStatus.FAILED
        if self.outcome is Outcome.NEVER_FINISHES:
            return OperationStatus.IN_PROGRESS
        if self.outcome is Outcome.PAUSED:
            return self._paused_status(elapsed)
        if elapsed < self.duration:
            return OperationStatus.IN_PROGRESS
        return OperationStatus(self.outcome.value)

    def _paused_status(self, elapsed: float) -> OperationStatus:
        pause_at = PAUSE_AT_SHARE * self.duration
        if elapsed < pause_at:
            return OperationStatus.IN_PROGRESS
        if elapsed < pause_at + self.paused_seconds:
            return OperationStatus.PAUSED
        if elapsed < self.duration + self.paused_seconds:
            return OperationStatus.IN_PROGRESS
        return OperationStatus.SUCCESS

    def finishes_after(self) -> float | None:
        """Seconds after creation when the status becomes terminal; None if it never does."""
        if self.early_error is not None:
            return CREATED_SHARE * self.duration
        if self.outcome is Outcome.NEVER_FINISHES:
            return None
        if self.outcome is Outcome.PAUSED:
            return self.duration + self.paused_seconds
        return self.duration

    def error_for(self, status: OperationStatus) -> str | None:
        if status is OperationStatus.FAILED:
            return self.early_error or self.failure_error
        if status in (OperationStatus.CANCELLED, OperationStatus.ABORTED):
            return OUTCOME_ERRORS[Outcome(status.value)]
        return None


def outcome_from_description(description: str | None, kind: str | None = None) -> Outcome | None:
    """A ``[sim:FAILED]``-style token in a product description forces that product's outcome.

    A token naming ``kind`` (``[sim:flat_lay:FAILED]``) wins over a token for every kind, so one
    product can fail its flat-lay shots while its on-figure shots succeed.
    """
    token = outcome_token(description, kind)
    return token[0] if token else None


def outcome_token(description: str | None, kind: str | None = None) -> tuple[Outcome, bool] | None:
    """The outcome a description forces on ``kind``, and whether only once (``:once``)."""
    general: tuple[Outcome, bool] | None = None
    for match in OUTCOME_TOKEN.finditer(description or ""):
        token_kind, found = match.group(1), (Outcome(match.group(2)), match.group(3) is not None)
        if token_kind is None:
            general = general or found
        elif token_kind == kind:
            return found
    return general


def draw_duration(settings: SimSettings, priority: str, dice: random.Random) -> float:
    """How long a new operation takes: ``operation_seconds``, or a lognormal draw around a median.

    The median is ``online_median_seconds`` or ``offline_median_seconds``, by the operation's
    priority. The caller passes its own seeded generator (and holds its lock), so seeded runs repeat.
    """
    if settings.duration_distribution is DurationDistribution.FIXED:
        return settings.operation_seconds
    median = (
        settings.offline_median_seconds
        if priority == OperationPriority.OFFLINE.value
        else settings.online_median_seconds
    )
    return dice.lognormvariate(math.log(median), settings.duration_sigma)
