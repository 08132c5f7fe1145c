"""The poll schedule as the state machine runs it: a plan from the learned estimate at submit, then
one wait per check from the time elapsed, never past the deadline, few enough checks for a
7-day operation to fit one execution, and the template's knobs respected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from studio_core.aiuta.requests import OperationPriority
from studio_core.domain.check_loop import (
    CHECK_RESERVE_SECONDS,
    break_even_gap_seconds,
    check_again_in_lambda,
    loop_usd,
)
from studio_core.domain.learned_polling import initial_estimate
from studio_core.domain.polling import (
    HISTORY_EVENTS_PER_CHECK,
    PollSettings,
    deadline_for,
    plan_next_check,
    start_polling,
)
from studio_core.domain.state import PollState

ONLINE, OFFLINE = OperationPriority.ONLINE, OperationPriority.OFFLINE
STARTED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def run_schedule(
    priority: OperationPriority, settings: PollSettings, poll: PollState | None = None
) -> list[datetime]:
    """Every status check of an operation that never finishes: submit plans the first wait, then
    each check plans the next, until the deadline."""
    poll = poll or start_polling(priority, settings, STARTED)
    now = STARTED + timedelta(seconds=poll.wait_seconds)
    checks, attempt = [now], 0
    while True:
        decision = plan_next_check(poll, now, attempt + 1, priority, settings)
        if decision.timed_out:
            return checks
        attempt = decision.attempt
        now += timedelta(seconds=decision.wait_seconds)
        checks.append(now)


def test_with_no_history_the_first_check_comes_before_the_expected_duration() -> None:
    # Given no operation observed yet and an expected online duration of 30 s
    settings = PollSettings(expected_online_seconds=30)

    # When a round starts
    poll = start_polling(ONLINE, settings, STARTED)

    # Then the first check is early (a cold start costs checks, not lateness) and the plan is kept
    assert 1 <= poll.wait_seconds < 30
    assert poll.plan is not None
    assert poll.plan.estimate["samples"] == 0
    assert poll.deadline == deadline_for(ONLINE, STARTED, settings)


def test_a_learned_estimate_moves_the_first_check_to_when_operations_start_ending() -> None:
    # Given 200 online operations observed, all about 120 s long
    settings = PollSettings()
    estimate = initial_estimate(ONLINE, settings)
    for i in range(200):
        estimate = estimate.observe(115 + i % 10)

    # When a round starts
    poll = start_polling(ONLINE, settings, STARTED, estimate)

    # Then the first check waits for the learned low quantile, near the observed durations
    assert 100 <= poll.wait_seconds <= 120
    assert poll.plan is not None and poll.plan.estimate["samples"] == 200


@pytest.mark.parametrize("priority", [ONLINE, OFFLINE])
def test_a_never_finishing_operation_is_checked_until_exactly_its_deadline(
    priority: OperationPriority,
) -> None:
    settings = PollSettings()
    deadline = deadline_for(priority, STARTED, settings)

    checks = run_schedule(priority, settings)

    assert all(check <= deadline for check in checks)
    assert checks[-1] == deadline


def test_a_7_day_operation_stays_under_5000_history_events() -> None:
    # Given the longest offline deadline the template allows (7 days)
    settings = PollSettings(deadline_offline_seconds=7 * 24 * 3600)

    # When every check it makes is counted
    checks = run_schedule(OFFLINE, settings)

    # Then its history stays under 5,000 events (the limit is 25,000)
    assert len(checks) * HISTORY_EVENTS_PER_CHECK < 5000


def test_the_longest_gap_is_the_templates_max_wait_or_a_tenth_of_the_time_elapsed() -> None:
    settings = PollSettings(max_wait_seconds=300, deadline_offline_seconds=2 * 24 * 3600)

    checks = run_schedule(OFFLINE, settings)

    for before, after in pairwise(checks):
        elapsed = (before - STARTED).total_seconds()
        assert (after - before).total_seconds() <= max(300, 0.1 * elapsed) + 1


def test_the_minimum_wait_is_the_templates() -> None:
    settings = PollSettings(expected_online_seconds=1, min_wait_seconds=5, max_wait_seconds=600)

    checks = run_schedule(ONLINE, settings)

    gaps = [(b - a).total_seconds() for a, b in pairwise(checks)]
    assert min(gaps[:-1]) >= 5  # the last wait may be shorter: it lands on the deadline


def test_a_slow_check_loop_is_measured_and_the_next_wait_shortened_for_it() -> None:
    # Given a learned online round (40-140 s) checked at 60 s (a 6 s wait after the check at 53.7 s)
    settings = PollSettings()
    estimate = initial_estimate(ONLINE, settings)
    for i in range(200):
        estimate = estimate.observe(40 + i % 100)
    poll = start_polling(ONLINE, settings, STARTED, estimate).model_copy(
        update={"attempt": 5, "wait_seconds": 6, "checked_at": STARTED + timedelta(seconds=53.7)}
    )

    # When that loop took 0.3 s beyond its wait, or 2.3 s (a cold Lambda, a slow answer)
    quick = plan_next_check(poll, STARTED + timedelta(seconds=60.0), 6, ONLINE, settings)
    slow = plan_next_check(poll, STARTED + timedelta(seconds=62.0), 6, ONLINE, settings)

    # Then the next wait leaves room for the loop's latency twice (before the next check reads,
    # and before its answer is out), so the end is still noticed within 10 %
    assert quick.wait_seconds == 5  # 10 % of 60 s, less 2 x 0.3 s
    assert slow.wait_seconds == 1  # 10 % of 62 s, less 2 x 2.3 s
    assert 62.0 + 2 * 2.3 + slow.wait_seconds <= 1.1 * 62.0


def test_past_the_deadline_the_next_check_is_a_time_out() -> None:
    settings = PollSettings()
    poll = start_polling(ONLINE, settings, STARTED)

    decision = plan_next_check(poll, poll.deadline + timedelta(seconds=1), 9, ONLINE, settings)

    assert decision.timed_out


def test_a_state_from_before_learned_plans_is_polled_with_the_default_plan() -> None:
    # Given a poll schedule written by the previous version (no plan in it)
    settings = PollSettings()
    legacy = PollState(wait_seconds=20, attempt=3, started_at=STARTED, deadline=STARTED + timedelta(hours=1))

    # When it is checked, then it still gets waits and ends at its deadline
    checks = run_schedule(ONLINE, settings, legacy)
    assert checks[-1] == legacy.deadline


def test_a_wait_is_slept_in_the_lambda_only_below_the_loops_break_even_and_within_its_limits() -> None:
    # Given the loop's price (3 transitions and a request) and a 512 MB status check
    assert loop_usd() == pytest.approx(3 * 0.025 / 1000 + 0.20 / 1_000_000)
    assert break_even_gap_seconds(512) == pytest.approx(11.28, abs=0.01)
    assert break_even_gap_seconds(256) == pytest.approx(2 * break_even_gap_seconds(512))

    def again(wait: int, slept: float = 0.0, remaining: float = 90.0, limit: float = 40.0) -> bool:
        return check_again_in_lambda(
            wait,
            latency_seconds=0.3,
            slept_seconds=slept,
            remaining_seconds=remaining,
            limit_seconds=limit,
            memory_mb=512,
        )

    # Then a short wait is slept, a wait at the break-even is the Wait state's
    assert again(1) and again(11)
    assert not again(12)
    # and the invocation's gaps stay within the limit (0: never), a check within its time left
    assert again(5, slept=34.7) and not again(5, slept=34.8)
    assert not again(1, limit=0)
    assert again(5, remaining=CHECK_RESERVE_SECONDS + 5.3)
    assert not again(5, remaining=CHECK_RESERVE_SECONDS + 5.2)
