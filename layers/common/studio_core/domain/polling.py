"""The poll schedule: when to check an operation again, and when to give up.

The first check comes after the expected duration for the priority (about 20 s online,
minutes offline). Later checks start at a quarter of that and grow by ``backoff_factor`` up to
``max_wait_seconds``, and never overshoot the deadline. Each loop costs a handful of
Step Functions history events, so a 72 h offline job stays far below the 25,000-event limit
(see ``max_checks``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Self

from pydantic import BaseModel, Field, model_validator

from studio_core.aiuta.models import OperationPriority
from studio_core.domain.state import PollState


class PollSettings(BaseModel):
    """The status-check schedule: a first wait near the expected duration, then a backoff.

    Online operations take seconds to a minute, offline ones up to a few hours; the deadline
    after which a job is TIMED_OUT is per priority too.
    """

    first_wait_online_seconds: int = Field(default=20, ge=0)
    first_wait_offline_seconds: int = Field(default=300, ge=0)
    min_wait_seconds: int = Field(default=2, ge=0)
    max_wait_seconds: int = Field(default=600, ge=1)
    backoff_factor: float = Field(default=1.5, ge=1.0, le=10.0)
    deadline_online_seconds: int = Field(default=3600, ge=1)
    deadline_offline_seconds: int = Field(default=259200, ge=1)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Self:
        if self.min_wait_seconds > self.max_wait_seconds:
            raise ValueError(
                f"POLL_MIN_WAIT_SECONDS ({self.min_wait_seconds}) must not exceed "
                f"POLL_MAX_WAIT_SECONDS ({self.max_wait_seconds})"
            )
        return self

    def first_wait(self, priority: OperationPriority) -> int:
        if priority is OperationPriority.ONLINE:
            return self.first_wait_online_seconds
        return self.first_wait_offline_seconds

    def deadline_seconds(self, priority: OperationPriority) -> int:
        if priority is OperationPriority.ONLINE:
            return self.deadline_online_seconds
        return self.deadline_offline_seconds


# Wait + Task + Choice states per loop: entered/exited and scheduled/started/succeeded events.
HISTORY_EVENTS_PER_CHECK = 8


@dataclass(frozen=True)
class PollDecision:
    wait_seconds: int
    attempt: int
    timed_out: bool


def next_wait(priority: OperationPriority, attempt: int, settings: PollSettings) -> int:
    """Seconds to wait before check number ``attempt + 1`` (attempt 0 is the first wait)."""
    first = settings.first_wait(priority)
    if attempt == 0:
        return first
    base = max(settings.min_wait_seconds, first / 4)
    try:
        wait = base * settings.backoff_factor ** (attempt - 1)
    except OverflowError:  # hundreds of checks at a large factor: long past the cap
        wait = settings.max_wait_seconds
    return int(min(settings.max_wait_seconds, max(settings.min_wait_seconds, wait)))


def deadline_for(priority: OperationPriority, started_at: datetime, settings: PollSettings) -> datetime:
    return started_at + timedelta(seconds=settings.deadline_seconds(priority))


def plan_next_check(
    now: datetime,
    started_at: datetime,
    deadline: datetime,
    attempt: int,
    priority: OperationPriority,
    settings: PollSettings,
) -> PollDecision:
    """After check number ``attempt`` found the operation unfinished: wait again, or time out."""
    remaining = (deadline - now).total_seconds()
    if remaining <= 0:
        return PollDecision(wait_seconds=0, attempt=attempt, timed_out=True)
    # Land one last check right at the deadline rather than far past it.
    wait = min(next_wait(priority, attempt, settings), max(1, math.ceil(remaining)))
    return PollDecision(wait_seconds=wait, attempt=attempt, timed_out=False)


def max_checks(priority: OperationPriority, settings: PollSettings) -> int:
    """How many status checks a job can make before its deadline, waits summed schedule-wise."""
    budget = settings.deadline_seconds(priority)
    elapsed, checks = 0, 0
    while elapsed < budget:
        elapsed += max(1, next_wait(priority, checks, settings))
        checks += 1
    return checks


def start_polling(priority: OperationPriority, settings: PollSettings, now: datetime) -> PollState:
    """The schedule of a round just created: the first wait, and the job's deadline."""
    return PollState(
        wait_seconds=next_wait(priority, 0, settings),
        attempt=0,
        started_at=now,
        deadline=deadline_for(priority, now, settings),
    )
