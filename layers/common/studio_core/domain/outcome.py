"""How a job ends: one home for the rules that decide a job's outcome, and for what the record says.

The state machine branches on ``StepStatus`` (what happens next); the jobs table says ``JobStatus``
(what a person reads). ``RECORD_STATUS`` is the one mapping between them. The decisions:

- ``after_copy`` (the task "Copy results to S3"): another round, a review, or the job's end:
  SUCCEEDED, PARTIAL (naming what is missing) or CANCELLED (asked to stop; what it paid is copied);
- ``after_failure`` (the task "Record failure", where every Catch ends): CANCELLED when the job
  was asked to stop, PARTIAL when images are already in the bucket, TIMED_OUT when the deadline
  came with nothing copied, else FAILED, with the error the execution ends with;
- the check loop's own end at the deadline is ``domain.progress.decide_after_check``'s (READY when
  something finished, else TIMED_OUT), which ends here through ``after_copy`` or ``after_failure``.

Each is a pure function of what the step read: the record is read once, the ending decided, and
written once (``JobsTable.record_ending``).
"""

from __future__ import annotations

from dataclasses import dataclass

from studio_core.domain.errors import JobCancelled, JobTimedOut, OperationFailed
from studio_core.domain.record import JobStatus
from studio_core.domain.state import JobFailure, StepError, StepStatus
from studio_core.domain.vocabulary import ReviewMode

RECORD_STATUS: dict[StepStatus, JobStatus] = {
    StepStatus.WAITING: JobStatus.GENERATING,
    StepStatus.READY: JobStatus.COPYING,
    StepStatus.REGENERATE: JobStatus.REGENERATING,
    StepStatus.AWAITING_REVIEW: JobStatus.AWAITING_REVIEW,
    StepStatus.PUBLISH: JobStatus.AWAITING_REVIEW,  # auto review: published before the job ends
    StepStatus.SUCCEEDED: JobStatus.SUCCEEDED,
    StepStatus.PARTIAL: JobStatus.PARTIAL,
    StepStatus.FAILED: JobStatus.FAILED,
    StepStatus.TIMED_OUT: JobStatus.TIMED_OUT,
    StepStatus.CANCELLED: JobStatus.CANCELLED,
}
# The metric each ending counts (the dashboard's Jobs widget).
METRICS: dict[JobStatus, str] = {
    JobStatus.SUCCEEDED: "JobsSucceeded",
    JobStatus.PARTIAL: "JobsPartial",
    JobStatus.FAILED: "JobsFailed",
    JobStatus.TIMED_OUT: "JobsTimedOut",
    JobStatus.CANCELLED: "JobsCancelled",
}


@dataclass(frozen=True)
class Cancel:
    """A cancel kept on the job's record: who asked, and when."""

    by: str | None
    at: str

    @property
    def text(self) -> str:
        return f"cancelled by {self.by or 'a request'} at {self.at}"


@dataclass(frozen=True)
class Ending:
    """What a step decided: the state machine's next status, the record's, and the reason."""

    step: StepStatus
    reason: str | None = None
    failure: JobFailure | None = None

    @property
    def status(self) -> JobStatus:
        return RECORD_STATUS[self.step]

    @property
    def ends_job(self) -> bool:
        return self.status.is_terminal

    @property
    def metric(self) -> str | None:
        return METRICS.get(self.status)


def after_copy(
    *,
    next_round: bool,
    shortfall: str | None,
    cancel: Cancel | None,
    review: ReviewMode = ReviewMode.NONE,
) -> Ending:
    """After a round is copied: ``next_round`` (planned, or for failed checks within the budget),
    ``shortfall`` (what is missing, None: nothing), a cancel, and the job's review mode."""
    if cancel is not None:
        reason = cancel.text + (f"; {shortfall}" if shortfall else "")
        return Ending(StepStatus.CANCELLED, reason, JobFailure(error=JobCancelled.__name__, cause=reason))
    if next_round:
        return Ending(StepStatus.REGENERATE)
    if review is ReviewMode.REQUIRED:
        return Ending(StepStatus.AWAITING_REVIEW, shortfall)
    if review is ReviewMode.AUTO:
        return Ending(StepStatus.PUBLISH, shortfall)
    return Ending(StepStatus.PARTIAL, shortfall) if shortfall else Ending(StepStatus.SUCCEEDED)


def after_failure(
    *,
    caught: StepError | None,
    failure: JobFailure,
    deadline_passed: bool,
    images_copied: bool,
    cancel: Cancel | None,
) -> Ending:
    """Where every Catch ends: ``failure`` is the caught error (or the workflow's own, see
    ``record_failure.failure_of``); ``deadline_passed``: the check loop gave up at the deadline."""
    cancelled = cancel is not None or (caught is not None and caught.error == JobCancelled.__name__)
    if cancelled:
        said = cancel.text if cancel is not None else failure.cause
        cause = (
            said
            if failure.error == JobCancelled.__name__ or cancel is None
            else f"{said}; then {failure.cause}"
        )
        return Ending(StepStatus.CANCELLED, cause, JobFailure(error=JobCancelled.__name__, cause=cause))
    if images_copied:
        return Ending(StepStatus.PARTIAL, failure.cause, failure)
    if deadline_passed:
        return Ending(StepStatus.TIMED_OUT, failure.cause, failure)
    return Ending(StepStatus.FAILED, failure.cause, failure)


def no_capacity_by_deadline(reason: str) -> Ending:
    """The capacity wait gave up: the deadline comes before Aiuta (or a function) has room. The
    job goes to "Record failure", which ends it TIMED_OUT (or PARTIAL, with what it copied)."""
    return Ending(StepStatus.TIMED_OUT, reason)


def workflow_failure(deadline_passed: bool, reason: str | None) -> JobFailure:
    """The error an execution ends with when no step raised one: the deadline, or Aiuta's failure."""
    if deadline_passed:
        return JobFailure(
            error=JobTimedOut.__name__, cause=reason or "Aiuta had not finished by the job's deadline"
        )
    return JobFailure(
        error=OperationFailed.__name__, cause=reason or "the job failed without a recorded reason"
    )
