"""Capacity at Aiuta: the request rate and the operations in flight the pipeline may use, and what a
job does when there is none (it waits; it never fails for it).

Three pure rules, used by ``aws.capacity`` (the shared limiter in DynamoDB) and by the state
machine's capacity loop (``steps.capacity_wait``):

- ``reserve_request``: a shared request budget of ``rate`` requests/s with bursts of ``burst``,
  as a GCRA (generic cell rate algorithm, a token bucket kept as one timestamp): each request
  reserves the next send time; at most ``burst`` go at once, then one every ``1/rate`` s, so no
  1 s window holds more than ``rate + burst`` requests.
- ``expired_leases``: operations in flight are leases (one per operation) that end when Aiuta says
  the operation finished, or at their expiry if nobody ever saw it finish.
- ``plan_capacity_wait``: how long a job waits before it tries again: until its turn in the
  waiting room (turns at the rate Aiuta takes requests, first come first served) or Aiuta's (or
  our limiter's) ``Retry-After`` if later, plus up to a second of jitter; without a waiting room,
  exponential backoff with full jitter. Never past the deadline.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from studio_core.domain.base import Model

# The names, in the ASL, of the errors that send a job to "Plan the wait for capacity".
CAPACITY_ERRORS = ("AiutaRateLimited", "CapacityUnavailable", "Lambda.TooManyRequestsException")
# How error messages carry the advice (``AiutaRateLimited``, ``CapacityUnavailable``).
RETRY_AFTER = re.compile(r"retry after (\d+(?:\.\d+)?) s")
FIRST_BACKOFF_SECONDS = 2.0


class CapacityTask(StrEnum):
    """The tasks that can wait for capacity: the key each one's Catch writes under ``$.capacity_error``."""

    SUBMIT = "submit"
    CHECK_STATUS = "check_status"
    FINALIZE = "finalize"
    REGENERATE = "regenerate"


# Requests one operation costs over its life: its create and its checks. The pace of new work
# follows the measured figure (``requests_per_operation``); until enough is measured it is the
# least an operation can cost, a create and one check. A pace too fast is corrected as it goes
# (the request budget refuses the creates it has no turn for, and they wait again); a pace too
# slow is not: the turns it gave a catalogue's rows stay given, however cheap the checks become.
REQUESTS_PER_OPERATION = 2
# Enough measured: this many requests and creates counted (about 40 s of a 5/s plan's traffic).
MEASURED_FROM_REQUESTS = 200
MEASURED_FROM_CREATES = 20
# Sane bounds: an operation costs its create and at least one check; past 16 (an offline
# operation polled without pressure), new work would crawl for a figure a few slow ones made.
MIN_REQUESTS_PER_OPERATION = 2.0
MAX_REQUESTS_PER_OPERATION = 16.0
# The counts are halved once this many requests are counted: the figure is a decayed average,
# the last 500 to 1,000 requests at full weight, each older block of 500 at half the one after.
COUNTS_HALVED_AT = 1000


def requests_per_operation(requests: int, creates: int) -> float:
    """Requests per create sent, from the request budget's counts (``aws.request_budget``).

    ``REQUESTS_PER_OPERATION`` until ``MEASURED_FROM_REQUESTS`` requests and
    ``MEASURED_FROM_CREATES`` creates are counted, then ``requests / creates`` within
    ``MIN_REQUESTS_PER_OPERATION`` and ``MAX_REQUESTS_PER_OPERATION``. A create counts when it is
    sent (one refused with a 429 is sent again, and costs its requests again): the figure is
    requests per create sent, which is what letting in one more job costs. While many operations
    are running it reads low (their checks are still to come), so the first minutes of a run
    use the fixed figure.
    """
    if requests < MEASURED_FROM_REQUESTS or creates < MEASURED_FROM_CREATES:
        return float(REQUESTS_PER_OPERATION)
    return min(MAX_REQUESTS_PER_OPERATION, max(MIN_REQUESTS_PER_OPERATION, requests / creates))


def halved_counts(requests: int, creates: int) -> tuple[int, int] | None:
    """The counts after a decay step, or None while they are under ``COUNTS_HALVED_AT``."""
    if requests < COUNTS_HALVED_AT:
        return None
    return requests // 2, creates // 2


class WaitingQueue(StrEnum):
    """The waiting room's two queues. New work (a create) is let in at the pace Aiuta can finish
    it, R / (requests per operation) a second, measured (``requests_per_operation``): letting it
    in at R would let four jobs in for every one Aiuta can serve, and the others would only come
    back to wait again. Work already at Aiuta (checks, copies) has its queue at R, so a running
    job never waits behind new ones: it is what frees the operations in flight the new ones
    wait for."""

    NEW_WORK = "new-work"
    AT_AIUTA = "at-aiuta"

    @classmethod
    def of(cls, task: CapacityTask) -> WaitingQueue:
        return cls.NEW_WORK if task in (CapacityTask.SUBMIT, CapacityTask.REGENERATE) else cls.AT_AIUTA

    def turns_per_second(
        self, requests_per_second: float, per_operation: float = REQUESTS_PER_OPERATION
    ) -> float:
        if self is WaitingQueue.NEW_WORK:
            return requests_per_second / per_operation
        return requests_per_second


# ---------------------------------------------------------------------------- creates waiting

# The creates waiting for a request turn are the waiting room's backlog of new work: the last
# turn given to a create the request rate held back, at the pace new work had then. They count
# only while creates are being sent: the turns of a catalogue cancelled while its rows wait are
# never taken, and must not slow the checks for long.
CREATES_STOPPED_SECONDS = 60.0


def waits_for_a_request_turn(task: CapacityTask, error: str, message: str) -> bool:
    """Whether a capacity wait is a create waiting because the request rate binds: new work refused
    by the pipeline's request budget (``AiutaRequestsPerSecond``) or by Aiuta's own 429. A create
    refused for operations in flight (``AiutaOperationsInFlight``) is not: a check then costs it
    nothing, and the polls need not yield."""
    if WaitingQueue.of(task) is not WaitingQueue.NEW_WORK:
        return False
    return error == "AiutaRateLimited" or (
        error == "CapacityUnavailable" and "AiutaRequestsPerSecond" in message
    )


def behind_waiting_creates(waiting: float) -> str:
    """Why a new job waits before it sends anything: creates are already waiting for a request turn."""
    return (
        f"about {waiting:.0f} new jobs are waiting for a request turn; this one waits behind them "
        "(AiutaRequestsPerSecond)"
    )


@dataclass(frozen=True)
class NewWorkBacklog:
    """The new work waiting for a request turn, as the request budget's item keeps it (epoch s)."""

    until: float  # the last turn given to a create the request rate held back
    pace: float  # new work's turns per second when that turn was given
    last_create: float | None = None  # when a create was last sent (None: none yet)

    def creates_waiting(self, now: float) -> float:
        """About how many creates wait for their turn at ``now``: the backlog's seconds at its pace;
        none once no create was sent for ``CREATES_STOPPED_SECONDS``."""
        if self.last_create is not None and now - self.last_create > CREATES_STOPPED_SECONDS:
            return 0.0
        return max(0.0, self.until - now) * max(0.0, self.pace)


# ---------------------------------------------------------------------------- request budget


@dataclass(frozen=True)
class Reservation:
    """When a request may be sent (ms since the epoch), and the budget's state after it."""

    send_at_ms: int
    next_tat_ms: int

    def wait_seconds(self, now_ms: int) -> float:
        return max(0, self.send_at_ms - now_ms) / 1000


def reserve_request(tat_ms: int | None, now_ms: int, rate: float, burst: int) -> Reservation:
    """The next send time under a budget whose theoretical arrival time is ``tat_ms`` (None: unused).

    GCRA: with emission interval ``T = 1/rate`` and tolerance ``(burst - 1) * T``, a request may go
    at ``TAT - tolerance``; sending it moves ``TAT`` on by ``T``. An idle budget lets ``burst`` go
    at once.
    """
    if rate <= 0 or burst < 1:
        raise ValueError("a request budget needs rate > 0 and burst >= 1")
    interval = 1000.0 / rate
    tolerance = (burst - 1) * interval
    earliest = now_ms if tat_ms is None else math.ceil(tat_ms - tolerance)
    send_at = max(now_ms, earliest)
    next_tat = math.ceil(max(tat_ms or 0, send_at) + interval)
    return Reservation(send_at, next_tat)


# ---------------------------------------------------------------------------- operations in flight


def expired_leases(holders: Mapping[str, float], now: float) -> list[str]:
    """The leases (operation id, or a create under way) whose expiry (epoch seconds) has passed."""
    return sorted(holder for holder, expiry in holders.items() if float(expiry) <= now)


# ---------------------------------------------------------------------------- the wait for capacity


class CapacityWait(Model):
    """``$.capacity``: what the job is waiting for and until when; the console shows it as is."""

    task: CapacityTask
    attempt: int = Field(ge=1)
    wait_seconds: int = Field(ge=0)
    waited_seconds: int = Field(ge=0)
    deadline: datetime
    reason: str


@dataclass(frozen=True)
class CapacityPlan:
    """The next wait, or ``give_up`` (the deadline has come) with the reason for the job's record."""

    wait: CapacityWait | None
    give_up_reason: str | None = None


def retry_after_of(message: str) -> float | None:
    """The ``retry after N s`` advice in an error message, if it has one."""
    found = RETRY_AFTER.search(message)
    return float(found.group(1)) if found else None


def plan_capacity_wait(
    *,
    task: CapacityTask,
    error: str,
    message: str,
    previous: CapacityWait | None,
    now: datetime,
    deadline: datetime,
    max_wait_seconds: int,
    rng: random.Random | None = None,
    turn: datetime | None = None,
) -> CapacityPlan:
    """The next wait for capacity after ``error`` (one of ``CAPACITY_ERRORS``) in ``task``.

    ``previous`` is the wait before it in the same episode (same task, no success in between): it
    keeps the attempt count, the time waited and the deadline. The wait is the advice (Retry-After)
    when there is one, plus a full-jitter backoff that doubles per attempt up to
    ``max_wait_seconds``: jobs told the same Retry-After do not all come back in the same second.
    It never goes past the deadline; at the deadline the job gives up (TIMED_OUT).
    """
    rng = rng or random.Random()
    same_episode = previous is not None and previous.task is task
    attempt = previous.attempt + 1 if same_episode and previous else 1
    waited = previous.waited_seconds if same_episode and previous else 0
    deadline = previous.deadline if same_episode and previous else deadline
    reason = f"{error}: {message}" if message else error
    left = (deadline - now).total_seconds()
    if left <= 0:
        return CapacityPlan(
            None,
            give_up_reason=(
                f"no capacity at Aiuta before the job's deadline ({deadline.isoformat()}): waited "
                f"{waited} s over {attempt - 1} tries; last: {reason}"
            ),
        )
    advice = retry_after_of(message) or 0.0
    if turn is not None:
        # A turn in the waiting room: come back then (or when Aiuta said, if later).
        wait = math.ceil(max(1.0, max(advice, (turn - now).total_seconds()) + rng.uniform(0, 1)))
    else:
        backoff = min(float(max_wait_seconds), FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
        wait = math.ceil(max(1.0, advice + rng.uniform(0, backoff)))
    wait = min(wait, max(1, math.ceil(left)))
    return CapacityPlan(
        CapacityWait(
            task=task,
            attempt=attempt,
            wait_seconds=wait,
            waited_seconds=waited + wait,
            deadline=deadline,
            reason=reason[:300],
        )
    )


def episode_deadline(now: datetime, deadline_seconds: int, poll_deadline: datetime | None) -> datetime:
    """Until when a job may wait: its operations' deadline while it polls, else the job's deadline
    for its priority counted from the first wait."""
    return poll_deadline if poll_deadline is not None else now + timedelta(seconds=deadline_seconds)
