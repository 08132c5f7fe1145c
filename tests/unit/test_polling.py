"""The poll schedule: a first wait near the expected duration, then a backoff between a floor and a
cap, never past the job's deadline, and few enough checks for a 72 h job to fit one execution."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from studio_core.aiuta.models import OperationPriority
from studio_core.domain.polling import (
    HISTORY_EVENTS_PER_CHECK,
    PollSettings,
    deadline_for,
    max_checks,
    next_wait,
    plan_next_check,
)

ONLINE, OFFLINE = OperationPriority.ONLINE, OperationPriority.OFFLINE
STARTED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
# Step Functions Standard: an execution fails once its history reaches 25,000 events.
HISTORY_LIMIT = 25_000
# The AWS "job poller" sample waits a fixed interval between status checks.
FIXED_POLL_INTERVAL_SECONDS = 10


def run_schedule(priority: OperationPriority, settings: PollSettings) -> list[datetime]:
    """The times of every status check of an operation that never finishes, as the state machine
    runs them: submit sets the first wait, then each check plans the next until the deadline."""
    deadline = deadline_for(priority, STARTED, settings)
    now = STARTED + timedelta(seconds=next_wait(priority, 0, settings))
    checks, attempt = [now], 0
    while True:
        decision = plan_next_check(now, STARTED, deadline, attempt + 1, priority, settings)
        if decision.timed_out:
            return checks
        attempt = decision.attempt
        now += timedelta(seconds=decision.wait_seconds)
        checks.append(now)


@pytest.mark.parametrize(("priority", "expected"), [(ONLINE, 17), (OFFLINE, 250)])
def test_the_first_wait_is_the_one_set_for_the_priority(priority: OperationPriority, expected: int) -> None:
    # Given first waits of 17 s online and 250 s offline
    settings = PollSettings(first_wait_online_seconds=17, first_wait_offline_seconds=250)

    # When the first wait is planned
    wait = next_wait(priority, 0, settings)

    # Then it is the one for the operation's priority
    assert wait == expected


def test_later_waits_start_at_a_quarter_of_the_first_and_grow_by_the_factor() -> None:
    # Given an online first wait of 40 s and a backoff factor of 2
    settings = PollSettings(first_wait_online_seconds=40, min_wait_seconds=1, backoff_factor=2.0)

    # When the waits after the first are planned
    waits = [next_wait(ONLINE, attempt, settings) for attempt in range(1, 6)]

    # Then they start at 10 s and double each time
    assert waits == [10, 20, 40, 80, 160]


def test_the_default_schedule_grows_by_half_each_check_until_the_cap() -> None:
    # Given the default settings (20 s online first wait, factor 1.5, cap 600 s)
    settings = PollSettings()

    # When the first fifteen online waits are planned
    waits = [next_wait(ONLINE, attempt, settings) for attempt in range(15)]

    # Then each wait after the second is about 1.5 times the one before, up to 600 s
    assert waits[:2] == [20, 5]
    for before, after in itertools.pairwise(waits[1:]):
        # whole seconds: the truncation of each wait can shift the product by up to 1.5 s
        assert after == 600 or abs(after - before * 1.5) <= 1.5
    assert waits[-2:] == [600, 600]


def test_no_wait_is_longer_than_the_maximum() -> None:
    # Given a cap of 120 s
    settings = PollSettings(max_wait_seconds=120)

    # When many waits are planned for both priorities
    waits = [next_wait(p, attempt, settings) for p in OperationPriority for attempt in range(1, 60)]

    # Then none exceeds the cap, and the long ones sit on it
    assert max(waits) == 120


def test_no_later_wait_is_shorter_than_the_minimum() -> None:
    # Given a first wait so short that a quarter of it is below the 10 s floor
    settings = PollSettings(first_wait_online_seconds=8, min_wait_seconds=10, backoff_factor=1.2)

    # When the waits after the first are planned
    waits = [next_wait(ONLINE, attempt, settings) for attempt in range(1, 10)]

    # Then none is below the floor
    assert min(waits) == 10


def test_the_wait_stays_at_the_cap_however_many_checks_came_before() -> None:
    # Given the steepest allowed backoff
    settings = PollSettings(backoff_factor=10)

    # When the wait after a very large number of checks is planned
    wait = next_wait(OFFLINE, 5_000, settings)

    # Then it is the cap, not an arithmetic overflow
    assert wait == settings.max_wait_seconds


def test_the_deadline_is_the_start_plus_the_deadline_for_the_priority() -> None:
    # Given a 1 h online and 72 h offline deadline (the defaults)
    settings = PollSettings()

    # When the deadlines of jobs started now are computed
    # Then they are one hour and three days away
    assert deadline_for(ONLINE, STARTED, settings) == STARTED + timedelta(hours=1)
    assert deadline_for(OFFLINE, STARTED, settings) == STARTED + timedelta(hours=72)


def test_an_unfinished_operation_well_before_the_deadline_waits_on_schedule() -> None:
    # Given an online job checked for the third time, half an hour before its deadline
    settings = PollSettings()
    now = STARTED + timedelta(minutes=30)

    # When the next check is planned
    decision = plan_next_check(now, STARTED, STARTED + timedelta(hours=1), 3, ONLINE, settings)

    # Then it waits the scheduled time for that attempt
    assert not decision.timed_out
    assert decision.wait_seconds == next_wait(ONLINE, 3, settings)
    assert decision.attempt == 3


@pytest.mark.parametrize("after", [timedelta(0), timedelta(microseconds=1), timedelta(hours=5)])
def test_an_operation_unfinished_at_or_after_the_deadline_times_out(after: timedelta) -> None:
    # Given a check that finds the operation unfinished at, or after, the deadline
    deadline = STARTED + timedelta(hours=1)

    # When the next check is planned
    decision = plan_next_check(deadline + after, STARTED, deadline, 9, ONLINE, PollSettings())

    # Then the job times out instead of waiting again
    assert decision.timed_out
    assert decision.wait_seconds == 0


def test_the_last_wait_is_cut_to_land_on_the_deadline() -> None:
    # Given an offline job whose next scheduled wait (600 s) would overshoot a deadline 45 s away
    settings = PollSettings()
    deadline = STARTED + timedelta(hours=72)
    now = deadline - timedelta(seconds=45)

    # When the next check is planned
    decision = plan_next_check(now, STARTED, deadline, 200, OFFLINE, settings)

    # Then the wait ends exactly at the deadline
    assert not decision.timed_out
    assert decision.wait_seconds == 45


def test_a_fraction_of_a_second_left_rounds_up_to_reach_the_deadline() -> None:
    # Given 12.0004 s left before the deadline (times carry microseconds)
    deadline = STARTED + timedelta(hours=1)
    now = deadline - timedelta(seconds=12, microseconds=400)

    # When the next check is planned
    decision = plan_next_check(now, STARTED, deadline, 50, ONLINE, PollSettings())

    # Then the whole-second wait reaches the deadline (13 s), so that check times out
    # instead of falling just short and costing one more loop
    assert decision.wait_seconds == 13


@pytest.mark.parametrize("priority", list(OperationPriority))
def test_a_never_finishing_operation_is_checked_until_exactly_its_deadline(
    priority: OperationPriority,
) -> None:
    # Given an operation that never finishes, polled with the default schedule
    settings = PollSettings()
    deadline = deadline_for(priority, STARTED, settings)

    # When the state machine runs the schedule to the end
    checks = run_schedule(priority, settings)

    # Then no check is past the deadline, the last one is on it, and max_checks counts them all
    assert all(check <= deadline for check in checks)
    assert checks[-1] == deadline
    assert len(checks) == max_checks(priority, settings)


def test_a_72_hour_offline_job_stays_far_below_the_history_limit() -> None:
    # Given the default 72 h offline deadline
    settings = PollSettings()
    assert settings.deadline_seconds(OFFLINE) == 72 * 3600

    # When every check it can make is counted
    checks = max_checks(OFFLINE, settings)

    # Then its history stays under a fifth of the 25,000-event limit
    assert checks * HISTORY_EVENTS_PER_CHECK < HISTORY_LIMIT / 5


def test_the_adaptive_schedule_makes_a_tenth_of_the_checks_of_a_fixed_interval_poller() -> None:
    # Given the default 72 h offline deadline
    settings = PollSettings()
    deadline = settings.deadline_seconds(OFFLINE)

    # When the adaptive schedule is compared with polling every 10 s (the AWS job-poller sample)
    adaptive = max_checks(OFFLINE, settings)
    fixed = deadline // FIXED_POLL_INTERVAL_SECONDS

    # Then the fixed poller could not even fit one history event per check, the adaptive one
    # makes fewer than a tenth of its checks
    assert fixed == 25_920
    assert fixed > HISTORY_LIMIT
    assert adaptive < fixed / 10


def test_an_online_job_makes_few_checks() -> None:
    # Given the default 1 h online deadline
    # When its checks are counted
    checks = max_checks(ONLINE, PollSettings())

    # Then it is a couple of dozen at most
    assert checks <= 25
