"""The poll schedule of a round: its plan, each next wait, and when to give up.

The schedule learns (``learned_polling``): at submit, the priority's duration estimate (what this
deployment has observed, starting from the template's expected durations) becomes a small
``PollPlan`` kept in ``$.poll``; after each check ``plan_next_check`` asks it for the next wait
from the time elapsed since the round was created and the latency the last loop took, and the
last check lands on the deadline. The template's ``PollMinWaitSeconds``, ``PollMaxWaitSeconds``
(the longest gap) and ``PollBackoffFactor`` (the tail factor: the spacing past the estimate's
99 % quantile) shape every plan.

Template parameters keep their first names so deployed stacks update in place; what they mean now:
``PollFirstWaitOnlineSeconds`` / ``PollFirstWaitOfflineSeconds`` (``POLL_FIRST_WAIT_*_SECONDS``)
are ``expected_*_seconds``, the prior the estimate starts from; ``PollBackoffFactor``
(``POLL_BACKOFF_FACTOR``) is ``tail_factor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Self

from pydantic import Field, model_validator

from studio_core.aiuta.requests import OperationPriority
from studio_core.domain.base import Model
from studio_core.domain.learned_polling import (
    HISTORY_EVENTS_PER_CHECK,
    DurationEstimate,
    PollPlan,
    initial_estimate,
    plan_for,
)
from studio_core.domain.learned_polling import next_wait as planned_wait
from studio_core.domain.state import PollState

__all__ = ["HISTORY_EVENTS_PER_CHECK", "PollDecision", "PollSettings", "plan_next_check", "start_polling"]


class PollSettings(Model):
    """The status-check schedule's knobs: the duration expected before any was observed (the
    prior the learned estimate starts from), the shortest and longest wait, the tail factor.

    Online operations take seconds to a minute, offline ones up to a few hours; the deadline
    after which a job is TIMED_OUT is per priority too.
    """

    expected_online_seconds: int = Field(default=20, ge=0)
    expected_offline_seconds: int = Field(default=300, ge=0)
    min_wait_seconds: int = Field(default=1, ge=0)
    max_wait_seconds: int = Field(default=600, ge=1)
    tail_factor: float = Field(default=1.5, ge=1.0, le=10.0)
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

    def expected_seconds(self, priority: OperationPriority) -> int:
        if priority is OperationPriority.ONLINE:
            return self.expected_online_seconds
        return self.expected_offline_seconds

    def deadline_seconds(self, priority: OperationPriority) -> int:
        if priority is OperationPriority.ONLINE:
            return self.deadline_online_seconds
        return self.deadline_offline_seconds


@dataclass(frozen=True)
class PollDecision:
    wait_seconds: int
    attempt: int
    timed_out: bool


def deadline_for(priority: OperationPriority, started_at: datetime, settings: PollSettings) -> datetime:
    return started_at + timedelta(seconds=settings.deadline_seconds(priority))


def plan_from(estimate: DurationEstimate, settings: PollSettings) -> PollPlan:
    """The plan for a round of the estimate's priority, with the template's knobs and deadline."""
    return plan_for(
        estimate,
        min_wait_seconds=max(1, settings.min_wait_seconds),
        max_gap_seconds=settings.max_wait_seconds,
        tail_factor=max(1.01, settings.tail_factor),
    )


def start_polling(
    priority: OperationPriority,
    settings: PollSettings,
    now: datetime,
    estimate: DurationEstimate | None = None,
    *,
    rate_pressure: float = 0.0,
) -> PollState:
    """The schedule of a round just created: its plan from the estimate, the first wait, the deadline.

    ``rate_pressure`` (0..1): how hard the request rate binds as the create saw it; it moves the
    first check later (``PollPlan.first_check_under``)."""
    plan = plan_from(estimate or initial_estimate(priority, settings), settings)
    deadline = deadline_for(priority, now, settings)
    first = planned_wait(plan, 0, 0, (deadline - now).total_seconds(), rate_pressure=rate_pressure)
    return PollState(wait_seconds=max(1, first), attempt=0, started_at=now, deadline=deadline, plan=plan)


def loop_latency(poll: PollState, now: datetime) -> float | None:
    """How long the last loop took beyond its Wait: from the clock reading of the check (or
    submit) before it to this one's, less the wait. None for a state from before it was kept."""
    if poll.checked_at is None and poll.attempt > 0:
        return None
    before = poll.checked_at or poll.started_at
    return (now - before).total_seconds() - poll.wait_seconds - poll.slept_seconds


def plan_next_check(
    poll: PollState,
    now: datetime,
    attempt: int,
    priority: OperationPriority,
    settings: PollSettings,
    *,
    rate_pressure: float = 0.0,
) -> PollDecision:
    """After check number ``attempt`` found the round unfinished: wait again, or time out.

    ``rate_pressure`` (0..1, ``learned_polling.rate_pressure_from``): how hard the request rate
    binds; it lengthens the waits (``learned_polling.lag_target_under``)."""
    plan = poll.plan or plan_from(initial_estimate(priority, settings), settings)
    elapsed = (now - poll.started_at).total_seconds()
    wait = planned_wait(
        plan,
        elapsed,
        attempt,
        (poll.deadline - poll.started_at).total_seconds(),
        latency_seconds=loop_latency(poll, now),
        rate_pressure=rate_pressure,
    )
    return PollDecision(wait_seconds=wait, attempt=attempt, timed_out=wait == 0)
