"""How a simulated operation's status unfolds over sim time, and the sim clock itself."""

from __future__ import annotations

import pytest

from studio_core.aiuta.answers import OperationStatus as S
from studio_sim.settings import Outcome
from studio_sim.timeline import Plan, SimClock, outcome_from_description


def statuses(plan: Plan, moments: list[float]) -> list[S]:
    return [plan.status_at(moment) for moment in moments]


def test_a_normal_operation_is_created_then_in_progress_then_successful() -> None:
    # Given a 10 s operation, When we look at it over time, Then it spends its first tenth CREATED
    plan = Plan(Outcome.SUCCESS, duration=10)

    assert statuses(plan, [0, 0.99, 1, 9.99, 10, 1e6]) == [
        S.CREATED,
        S.CREATED,
        S.IN_PROGRESS,
        S.IN_PROGRESS,
        S.SUCCESS,
        S.SUCCESS,
    ]
    assert plan.error_for(S.SUCCESS) is None


@pytest.mark.parametrize("outcome", [Outcome.FAILED, Outcome.CANCELLED, Outcome.ABORTED])
def test_a_forced_terminal_outcome_comes_when_success_would_have(outcome: Outcome) -> None:
    plan = Plan(outcome, duration=10, failure_error="boom")

    assert statuses(plan, [0, 5, 10]) == [S.CREATED, S.IN_PROGRESS, S(outcome.value)]
    assert plan.error_for(S(outcome.value))


def test_a_failed_operation_carries_the_configured_error() -> None:
    assert (
        Plan(Outcome.FAILED, 10, failure_error="the model fell over").error_for(S.FAILED)
        == "the model fell over"
    )


def test_a_paused_operation_pauses_midway_then_finishes_late() -> None:
    plan = Plan(Outcome.PAUSED, duration=10, paused_seconds=30)

    assert statuses(plan, [0, 4, 5, 34.9, 35, 39.9, 40]) == [
        S.CREATED,
        S.IN_PROGRESS,
        S.PAUSED,
        S.PAUSED,
        S.IN_PROGRESS,
        S.IN_PROGRESS,
        S.SUCCESS,
    ]


def test_an_operation_that_never_finishes_stays_in_progress() -> None:
    assert Plan(Outcome.NEVER_FINISHES, duration=10).status_at(10**9) is S.IN_PROGRESS


def test_unusable_inputs_fail_the_operation_when_work_would_start() -> None:
    plan = Plan(Outcome.SUCCESS, duration=10, early_error="could not download input image 1 of 1")

    assert statuses(plan, [0, 1, 100]) == [S.CREATED, S.FAILED, S.FAILED]
    assert plan.error_for(S.FAILED) == "could not download input image 1 of 1"


def test_a_zero_duration_operation_is_done_at_once() -> None:
    assert Plan(Outcome.SUCCESS, duration=0).status_at(0) is S.SUCCESS


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("Linen shirt [sim:FAILED] for the demo", Outcome.FAILED),
        ("[sim:NEVER_FINISHES]", Outcome.NEVER_FINISHES),
        ("[sim:PAUSED]", Outcome.PAUSED),
        ("[sim:failed] is not a token", None),
        ("[sim:EXPLODES]", None),
        (None, None),
    ],
)
def test_a_description_token_forces_the_outcome(description: str | None, expected: Outcome | None) -> None:
    assert outcome_from_description(description) == expected


def test_a_frozen_clock_moves_only_when_advanced() -> None:
    clock = SimClock(frozen=True)
    start = clock.now()

    assert clock.now() == start
    assert clock.advance(90) == start + 90
    assert clock.offset == 90


def test_thawing_a_frozen_clock_keeps_time_continuous() -> None:
    clock = SimClock(frozen=True)
    clock.advance(100)
    before = clock.now()

    clock.set_frozen(False)

    assert before <= clock.now() < before + 5
