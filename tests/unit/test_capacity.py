"""The capacity rules: the shared request budget (GCRA), expired leases, and the wait for capacity."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from studio_core.aiuta.client import _http_error
from studio_core.domain.capacity import (
    COUNTS_HALVED_AT,
    CREATES_STOPPED_SECONDS,
    MAX_REQUESTS_PER_OPERATION,
    MEASURED_FROM_CREATES,
    MEASURED_FROM_REQUESTS,
    MIN_REQUESTS_PER_OPERATION,
    REQUESTS_PER_OPERATION,
    CapacityTask,
    CapacityWait,
    NewWorkBacklog,
    WaitingQueue,
    episode_deadline,
    expired_leases,
    halved_counts,
    plan_capacity_wait,
    requests_per_operation,
    reserve_request,
    retry_after_of,
    waits_for_a_request_turn,
)
from studio_core.domain.errors import CapacityUnavailable
from studio_core.domain.learned_polling import rate_pressure_from

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def send_times(count: int, rate: float, burst: int, now_ms: int = 0) -> list[int]:
    tat = None
    times = []
    for _ in range(count):
        reservation = reserve_request(tat, now_ms, rate, burst)
        times.append(reservation.send_at_ms)
        tat = reservation.next_tat_ms
    return times


def test_an_idle_budget_lets_a_burst_go_at_once_then_one_per_interval() -> None:
    # Given 5 requests/s with bursts of 3, and 8 callers arriving at the same instant
    times = send_times(8, rate=5, burst=3)
    # Then three go now, and the rest 200 ms apart
    assert times == [0, 0, 0, 200, 400, 600, 800, 1000]


@pytest.mark.parametrize(("rate", "burst"), [(1, 1), (2, 2), (5, 10), (5, 5), (0.5, 1)])
def test_no_one_second_window_holds_more_than_rate_plus_burst(rate: float, burst: int) -> None:
    times = send_times(200, rate=rate, burst=burst)
    for start in range(0, max(times), 50):
        in_window = sum(1 for t in times if start <= t < start + 1000)
        assert in_window <= rate + burst


def test_a_budget_refills_while_nobody_asks() -> None:
    # Given a budget used up by a burst
    tat = None
    for _ in range(2):
        tat = reserve_request(tat, 0, rate=1, burst=2).next_tat_ms
    assert reserve_request(tat, 0, rate=1, burst=2).send_at_ms == 1000
    # When 10 s pass with no request, a whole burst may go again at once
    later = reserve_request(tat, 10_000, rate=1, burst=2)
    assert later.send_at_ms == 10_000
    assert reserve_request(later.next_tat_ms, 10_000, rate=1, burst=2).send_at_ms == 10_000


def test_a_budget_needs_a_positive_rate_and_burst() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        reserve_request(None, 0, rate=0, burst=1)


def test_expired_leases_are_those_past_their_expiry() -> None:
    assert expired_leases({"op-1": 100.0, "op-2": 200.0, "create-x": 99.5}, now=150) == ["create-x", "op-1"]


@pytest.mark.parametrize(
    ("message", "advice"),
    [
        ("POST /on_figure_operations: rate limited by Aiuta; retry after 3 s", 3.0),
        ("the pipeline's Aiuta budget of 5 requests/s is taken for the next 7.2 s; retry after 8 s", 8.0),
        ("Rate Exceeded.", None),
    ],
)
def test_the_advice_is_read_from_the_error_message(message: str, advice: float | None) -> None:
    assert retry_after_of(message) == advice


def test_the_advice_is_what_the_client_and_the_limiter_write() -> None:
    # The planner reads Retry-After from the errors' messages: they must keep the format
    class Answer:
        status_code = 429
        headers = {"Retry-After": "4"}
        text = ""

        def json(self) -> dict[str, str]:
            return {"detail": "rate limit exceeded"}

    assert retry_after_of(str(_http_error("POST /x", "POST", Answer()))) == 4.0  # type: ignore[arg-type]
    assert retry_after_of(str(CapacityUnavailable("budget taken", retry_after=2.3))) == 3.0


def plan(previous: CapacityWait | None = None, *, message: str = "", seed: int = 1, **kwargs: object):  # type: ignore[no-untyped-def]
    arguments: dict[str, object] = {
        "task": CapacityTask.SUBMIT,
        "error": "AiutaRateLimited",
        "message": message,
        "previous": previous,
        "now": NOW,
        "deadline": NOW + timedelta(hours=1),
        "max_wait_seconds": 60,
        "rng": random.Random(seed),
        **kwargs,
    }
    return plan_capacity_wait(**arguments)  # type: ignore[arg-type]


def test_a_first_wait_honours_retry_after_plus_a_little_jitter() -> None:
    waits = {plan(message="rate limited; retry after 5 s", seed=seed).wait.wait_seconds for seed in range(50)}
    # Retry-After 5 s, plus full jitter over the first backoff step (2 s)
    assert min(waits) >= 5 and max(waits) <= 7
    assert len(waits) > 1, "jobs told the same Retry-After must not all come back in the same second"


def test_waits_back_off_per_attempt_up_to_the_cap_and_add_up() -> None:
    # Given a job that keeps finding no capacity, without advice (a throttled Lambda)
    previous = None
    ceilings = []
    for _ in range(10):
        result = plan(previous, message="Rate Exceeded.", error="Lambda.TooManyRequestsException")
        assert result.wait is not None
        ceilings.append(min(60, 2 * 2 ** (result.wait.attempt - 1)))
        assert 1 <= result.wait.wait_seconds <= ceilings[-1]
        assert (
            result.wait.waited_seconds
            == (previous.waited_seconds if previous else 0) + result.wait.wait_seconds
        )
        previous = result.wait
    assert previous is not None and previous.attempt == 10
    assert ceilings[-1] == 60


def test_a_new_episode_in_another_task_starts_over() -> None:
    previous = plan(message="retry after 1 s").wait
    assert previous is not None
    again = plan(previous, task=CapacityTask.CHECK_STATUS).wait
    assert again is not None and again.attempt == 1 and again.task is CapacityTask.CHECK_STATUS


def test_a_wait_never_goes_past_the_deadline_and_the_deadline_gives_up() -> None:
    # Given a deadline 3 s away and advice of 30 s
    close = plan(message="retry after 30 s", deadline=NOW + timedelta(seconds=3)).wait
    assert close is not None and close.wait_seconds == 3
    # When the next try finds no capacity either, at the deadline
    late = plan(close, message="retry after 30 s", now=NOW + timedelta(seconds=3))
    # Then the job gives up, with a reason naming the deadline and what it waited for
    assert late.wait is None
    assert late.give_up_reason is not None
    assert "deadline" in late.give_up_reason and "retry after 30 s" in late.give_up_reason


def test_the_deadline_is_the_polls_while_polling_else_the_jobs_from_the_first_wait() -> None:
    poll_deadline = NOW + timedelta(minutes=5)
    assert episode_deadline(NOW, 3600, poll_deadline) == poll_deadline
    assert episode_deadline(NOW, 3600, None) == NOW + timedelta(hours=1)


def test_with_a_turn_in_the_waiting_room_a_job_comes_back_at_its_turn() -> None:
    # Given the waiting room gave the job the turn 40 s from now, and Aiuta said 3 s
    turn = NOW + timedelta(seconds=40)
    waits = {
        plan(message="retry after 3 s", seed=seed, turn=turn).wait.wait_seconds  # type: ignore[union-attr]
        for seed in range(20)
    }
    # Then it comes back at its turn (within a second of jitter), whatever the attempt
    assert waits <= {40, 41}
    late = plan(
        CapacityWait(
            task=CapacityTask.SUBMIT,
            attempt=9,
            wait_seconds=60,
            waited_seconds=500,
            deadline=NOW + timedelta(hours=1),
            reason="x",
        ),
        turn=NOW + timedelta(seconds=2),
    )
    assert late.wait is not None and late.wait.wait_seconds in {2, 3} and late.wait.attempt == 10


# ---------------------------------------------------------------------------- requests per operation


@pytest.mark.parametrize(
    ("requests", "creates"),
    [(0, 0), (MEASURED_FROM_REQUESTS - 1, 100), (5000, MEASURED_FROM_CREATES - 1)],
)
def test_before_enough_is_counted_an_operation_costs_the_fixed_figure(requests: int, creates: int) -> None:
    assert requests_per_operation(requests, creates) == REQUESTS_PER_OPERATION


def test_once_counted_an_operation_costs_the_requests_per_create_sent() -> None:
    assert requests_per_operation(600, 100) == 6.0
    assert requests_per_operation(MEASURED_FROM_REQUESTS, MEASURED_FROM_CREATES) == 10.0


@pytest.mark.parametrize(
    ("requests", "creates", "bounded"),
    [(300, 300, MIN_REQUESTS_PER_OPERATION), (4000, 20, MAX_REQUESTS_PER_OPERATION)],
)
def test_the_measured_figure_stays_within_sane_bounds(requests: int, creates: int, bounded: float) -> None:
    assert requests_per_operation(requests, creates) == bounded


def test_the_counts_are_halved_once_they_reach_the_window_so_recent_traffic_weighs_most() -> None:
    assert halved_counts(COUNTS_HALVED_AT - 1, 200) is None
    assert halved_counts(COUNTS_HALVED_AT, 250) == (COUNTS_HALVED_AT // 2, 125)
    # An old figure of 8 requests an operation, then traffic at 4: the figure moves to 4 in steps
    requests, creates = 1000, 125
    figures = []
    for _ in range(4):
        requests, creates = halved_counts(requests, creates) or (requests, creates)
        requests, creates = requests + 500, creates + 125
        figures.append(round(requests_per_operation(requests, creates), 2))
    assert figures == sorted(figures, reverse=True) and figures[0] < 8 and figures[-1] < 4.3


def test_new_work_is_let_in_at_the_rate_over_the_requests_an_operation_costs() -> None:
    assert WaitingQueue.NEW_WORK.turns_per_second(10) == 10 / REQUESTS_PER_OPERATION
    assert WaitingQueue.NEW_WORK.turns_per_second(10, 5.0) == 2.0
    assert WaitingQueue.AT_AIUTA.turns_per_second(10, 5.0) == 10


# ---------------------------------------------------------------------------- creates waiting

BUDGET_REFUSED = (
    "the pipeline's Aiuta budget of 5 requests/s is taken for the next 7.0 s (AiutaRequestsPerSecond)"
)
SLOTS_REFUSED = "10 Aiuta operations are in flight, the most the pipeline may have (AiutaOperationsInFlight)"


@pytest.mark.parametrize(
    ("task", "error", "message", "waits_for_rate"),
    [
        (CapacityTask.SUBMIT, "CapacityUnavailable", BUDGET_REFUSED, True),
        (CapacityTask.REGENERATE, "AiutaRateLimited", "Aiuta said 429; retry after 2 s", True),
        # Operations in flight binding: a check costs the create nothing, so no pressure
        (CapacityTask.SUBMIT, "CapacityUnavailable", SLOTS_REFUSED, False),
        # A table that did not answer, or a throttled Lambda, says nothing of the rate
        (CapacityTask.SUBMIT, "CapacityUnavailable", "the capacity table did not answer (X)", False),
        (CapacityTask.SUBMIT, "Lambda.TooManyRequestsException", "", False),
        # Work already at Aiuta is not a create
        (CapacityTask.CHECK_STATUS, "CapacityUnavailable", BUDGET_REFUSED, False),
        (CapacityTask.FINALIZE, "AiutaRateLimited", "", False),
    ],
)
def test_only_a_create_refused_by_the_request_rate_waits_for_a_request_turn(
    task: CapacityTask, error: str, message: str, waits_for_rate: bool
) -> None:
    assert waits_for_a_request_turn(task, error, message) is waits_for_rate


def test_the_creates_waiting_are_the_backlog_of_new_work_at_its_pace() -> None:
    # The last create held back has its turn 40 s from now, new work going at 2.5 a second
    backlog = NewWorkBacklog(until=1040.0, pace=2.5, last_create=999.0)
    assert backlog.creates_waiting(1000.0) == 100.0
    assert backlog.creates_waiting(1030.0) == 25.0
    # Past the last turn given, nobody waits
    assert backlog.creates_waiting(1040.0) == 0.0
    assert backlog.creates_waiting(1100.0) == 0.0
    # Before any create was sent (the first ones all held back), the backlog counts
    assert NewWorkBacklog(until=1040.0, pace=2.5).creates_waiting(1000.0) == 100.0


def test_a_backlog_nobody_takes_turns_from_stops_counting_once_creates_stop() -> None:
    # A cancelled catalogue leaves turns an hour long that no create will take
    backlog = NewWorkBacklog(until=4600.0, pace=2.5, last_create=1000.0)
    assert backlog.creates_waiting(1000.0 + CREATES_STOPPED_SECONDS) > 0
    assert backlog.creates_waiting(1000.0 + CREATES_STOPPED_SECONDS + 1) == 0.0
    assert CREATES_STOPPED_SECONDS <= 120


@pytest.mark.parametrize("rate", [0.5, 1, 5, 12.5, 50])
def test_two_seconds_of_the_rate_waiting_is_full_pressure_and_one_is_none(rate: float) -> None:
    second = max(1.0, rate)
    assert rate_pressure_from(2 * second, rate) == 1.0
    assert rate_pressure_from(second, rate) == 0.0
    assert 0.0 < rate_pressure_from(1.5 * second, rate) < 1.0
