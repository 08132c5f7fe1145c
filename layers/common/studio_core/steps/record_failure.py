"""Task "Record failure": the job's terminal FAILED or TIMED_OUT record, with its reason.

A job that already has images in the bucket (an earlier round, or a kind copied before a later
step failed) is not thrown away: it ends PARTIAL, keeping those images, with the failure as the
reason. A TIMED_OUT job keeps its operations, so ``studio resume`` can check them again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from studio_core.aws.events import JobEvents
from studio_core.aws.gallery import publish_gallery
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.errors import JobCancelled, JobTimedOut, OperationFailed
from studio_core.domain.keys import result_key
from studio_core.domain.state import JobFailure, JobState, StepStatus
from studio_core.observability import count, logger

# What a person reads instead of an error name that only says how a step was cut off mid-call.
CUT_OFF = (
    "; if it was creating an operation, Aiuta may have created it, and it is not sent again "
    "(drop the product again to start a new job)"
)
READABLE_ERRORS = {
    "IdempotencyAlreadyInProgressError": (
        "an earlier attempt to create this operation was cut off mid-call; Aiuta may have created "
        "it, so it is not sent again (drop the product again to start a new job)"
    ),
    "Runtime.ExitError": "the step's Lambda was cut off mid-invocation (its runtime exited)" + CUT_OFF,
    "Sandbox.Timedout": "the step's Lambda ran out of time mid-invocation" + CUT_OFF,
}


def failure_of(state: JobState) -> JobFailure:
    """The error name and cause the execution ends with: the caught error's, else the workflow's own."""
    if state.error is not None:
        readable, original = READABLE_ERRORS.get(state.error.error), state.error.message
        message = (
            f"{readable} ({original})" if readable and original != state.error.error else readable or original
        )
        return JobFailure(error=state.error.error, cause=f"{state.error.error}: {message}")
    if state.status is StepStatus.TIMED_OUT:
        reason = state.failure_reason or "Aiuta had not finished by the job's deadline"
        return JobFailure(error=JobTimedOut.__name__, cause=reason)
    reason = state.failure_reason or "the job failed without a recorded reason"
    return JobFailure(error=OperationFailed.__name__, cause=reason)


def record_failure(
    state: JobState,
    *,
    jobs: JobsTable,
    storage: Storage,
    events: JobEvents | None = None,
    now: datetime | None = None,
) -> JobState:
    now = now or datetime.now(UTC)
    failure = failure_of(state)
    # The failed step may have created operations before it failed (they are in the record, not
    # in the state the Catch passed on): the job keeps them, so `studio resume` can collect them.
    before = jobs.get(state.job_id)
    known = {op.operation_id for op in state.operations}
    state.operations.extend(
        op for op in (before.operations if before else []) if op.operation_id and op.operation_id not in known
    )
    partial = state.has_copied_results()
    cancelled = (state.error is not None and state.error.error == JobCancelled.__name__) or bool(
        before and before.cancel_requested_at
    )
    if cancelled and before is not None and before.cancel_requested_at:
        failure = JobFailure(
            error=JobCancelled.__name__,
            cause=f"cancelled by {before.cancelled_by or 'a request'} at {before.cancel_requested_at}"
            + ("" if failure.error == JobCancelled.__name__ else f"; then {failure.cause}"),
        )
    timed_out = state.status is StepStatus.TIMED_OUT and not partial and not cancelled
    state.status = (
        StepStatus.CANCELLED
        if cancelled
        else StepStatus.PARTIAL
        if partial
        else StepStatus.TIMED_OUT
        if timed_out
        else StepStatus.FAILED
    )
    state.failure_reason = failure.cause
    state.failure = failure
    key = result_key(state.product_id, state.job_id)
    document: dict[str, Any] = {
        "job_id": state.job_id,
        "product_id": state.product_id,
        "status": state.status.value,
        "error": failure.cause,
        "operations": [op.model_dump(mode="json") for op in state.operations],
        "finished_at": now.isoformat(),
    }
    if partial:
        record = jobs.get(state.job_id)
        document["images"] = [i.model_dump(mode="json") for i in (record.images if record else [])]
        document["rounds"] = [r.model_dump(mode="json") for r in (record.rounds if record else [])]
    if cancelled:
        jobs.mark_cancelled(
            state.job_id,
            error=failure.cause,
            finished_at=now.isoformat(),
            operations=state.operations,
            result_key=key,
        )
    elif partial:
        jobs.mark_partial(
            state.job_id,
            error=failure.cause,
            finished_at=now.isoformat(),
            operations=state.operations,
            result_key=key,
        )
    else:
        jobs.mark_failed(
            state.job_id,
            timed_out=timed_out,
            error=failure.cause,
            finished_at=now.isoformat(),
            operations=state.operations,
        )
    storage.put_json(key, document)
    # The job's gallery page shows what it got and why it ended; its event tells the store.
    ended = jobs.get(state.job_id)
    if ended is not None:
        publish_gallery(storage, jobs, ended)
        if events is not None:
            events.job_finished(ended, storage.bucket)
    logger.warning("job failed", extra={"status": state.status.value, "reason": failure.cause})
    count(
        "JobsCancelled"
        if cancelled
        else "JobsPartial"
        if partial
        else "JobsTimedOut"
        if timed_out
        else "JobsFailed"
    )
    return state
