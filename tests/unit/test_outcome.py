"""How a job ends, decided in one place: after a copy, after a failure, when capacity never came."""

from __future__ import annotations

import pytest

from studio_core.domain.outcome import (
    RECORD_STATUS,
    Cancel,
    after_copy,
    after_failure,
    no_capacity_by_deadline,
    workflow_failure,
)
from studio_core.domain.record import JobStatus
from studio_core.domain.state import JobFailure, StepError, StepStatus
from studio_core.domain.vocabulary import ReviewMode

STOP = Cancel("ops@store.example", "2026-12-07T10:00:00+00:00")
AIUTA_FAILED = JobFailure(
    error="OperationFailed", cause="the on_figure operation op-1 ended FAILED: no model"
)


def test_every_step_status_has_its_record_status() -> None:
    assert set(RECORD_STATUS) == set(StepStatus)
    assert {s for s in RECORD_STATUS.values() if s.is_terminal} == {
        JobStatus.SUCCEEDED,
        JobStatus.PARTIAL,
        JobStatus.FAILED,
        JobStatus.TIMED_OUT,
        JobStatus.CANCELLED,
    }


@pytest.mark.parametrize(
    ("next_round", "shortfall", "cancel", "review", "step", "status"),
    [
        (False, None, None, ReviewMode.NONE, StepStatus.SUCCEEDED, JobStatus.SUCCEEDED),
        (False, "1 image missing", None, ReviewMode.NONE, StepStatus.PARTIAL, JobStatus.PARTIAL),
        (True, None, None, ReviewMode.NONE, StepStatus.REGENERATE, JobStatus.REGENERATING),
        (True, None, STOP, ReviewMode.NONE, StepStatus.CANCELLED, JobStatus.CANCELLED),
        (False, None, None, ReviewMode.REQUIRED, StepStatus.AWAITING_REVIEW, JobStatus.AWAITING_REVIEW),
        (False, "1 image missing", None, ReviewMode.AUTO, StepStatus.PUBLISH, JobStatus.AWAITING_REVIEW),
        # a round comes before the review; a cancel before everything
        (True, None, None, ReviewMode.REQUIRED, StepStatus.REGENERATE, JobStatus.REGENERATING),
        (False, None, STOP, ReviewMode.REQUIRED, StepStatus.CANCELLED, JobStatus.CANCELLED),
    ],
)
def test_after_a_copy(
    next_round: bool,
    shortfall: str | None,
    cancel: Cancel | None,
    review: ReviewMode,
    step: StepStatus,
    status: JobStatus,
) -> None:
    ending = after_copy(next_round=next_round, shortfall=shortfall, cancel=cancel, review=review)
    assert (ending.step, ending.status) == (step, status)
    assert ending.ends_job is status.is_terminal


def test_a_cancelled_copy_says_who_and_when_and_what_is_missing() -> None:
    ending = after_copy(next_round=False, shortfall="the flat_lay operation failed", cancel=STOP)
    assert (
        ending.reason
        == "cancelled by ops@store.example at 2026-12-07T10:00:00+00:00; the flat_lay operation failed"
    )
    assert ending.failure is not None and ending.failure.error == "JobCancelled"
    assert ending.metric == "JobsCancelled"


@pytest.mark.parametrize(
    ("deadline", "copied", "cancel", "caught", "status"),
    [
        (False, False, None, None, JobStatus.FAILED),
        (True, False, None, None, JobStatus.TIMED_OUT),
        (True, True, None, None, JobStatus.PARTIAL),  # images in the bucket are kept
        (False, True, STOP, None, JobStatus.CANCELLED),
        (False, False, None, StepError(Error="JobCancelled", Cause="stopped"), JobStatus.CANCELLED),
    ],
)
def test_after_a_failure(
    deadline: bool, copied: bool, cancel: Cancel | None, caught: StepError | None, status: JobStatus
) -> None:
    failure = JobFailure(error="JobCancelled", cause="stopped") if caught else AIUTA_FAILED
    ending = after_failure(
        caught=caught, failure=failure, deadline_passed=deadline, images_copied=copied, cancel=cancel
    )
    assert ending.status is status and ending.ends_job
    assert ending.failure is not None and ending.reason == ending.failure.cause


def test_a_cancel_then_a_failure_names_both() -> None:
    ending = after_failure(
        caught=StepError(Error="AiutaServerError", Cause="500"),
        failure=JobFailure(error="AiutaServerError", cause="AiutaServerError: 500"),
        deadline_passed=False,
        images_copied=False,
        cancel=STOP,
    )
    assert (
        ending.reason
        == "cancelled by ops@store.example at 2026-12-07T10:00:00+00:00; then AiutaServerError: 500"
    )


def test_the_workflow_names_its_own_failures() -> None:
    assert workflow_failure(True, None).error == "JobTimedOut"
    assert workflow_failure(False, "ended FAILED").cause == "ended FAILED"
    gave_up = no_capacity_by_deadline("no capacity before the deadline")
    assert (gave_up.step, gave_up.reason) == (StepStatus.TIMED_OUT, "no capacity before the deadline")
