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
from studio_core.domain.keys import result_key
from studio_core.domain.outcome import Cancel, after_failure, workflow_failure
from studio_core.domain.state import JobFailure, JobState, StepStatus, paid_for
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
    return workflow_failure(state.status is StepStatus.TIMED_OUT, state.failure_reason)


def record_failure(
    state: JobState,
    *,
    jobs: JobsTable,
    storage: Storage,
    events: JobEvents | None = None,
    now: datetime | None = None,
) -> JobState:
    """Reads the job once, decides its end (``domain.outcome.after_failure``), writes it once."""
    now = now or datetime.now(UTC)
    before = jobs.get(state.job_id)
    # The failed step may have created operations before it failed (they are in the record, not
    # in the state the Catch passed on): the job keeps them, so `studio resume` can collect them.
    known = {op.operation_id for op in state.operations}
    state.operations.extend(
        op for op in (before.operations if before else []) if op.operation_id and op.operation_id not in known
    )
    asked_to_stop = before.cancel_requested_at if before is not None else None
    ending = after_failure(
        caught=state.error,
        failure=failure_of(state),
        deadline_passed=state.status is StepStatus.TIMED_OUT,
        images_copied=state.has_copied_results(),
        cancel=Cancel(before.cancelled_by, asked_to_stop) if before is not None and asked_to_stop else None,
    )
    state.status, state.failure_reason, state.failure = ending.step, ending.reason, ending.failure
    key = result_key(state.product_id, state.job_id)
    document: dict[str, Any] = {
        "job_id": state.job_id,
        "product_id": state.product_id,
        "status": ending.status.value,
        "error": ending.reason,
        "paid": paid_for(state.operations).model_dump(),
        "operations": [op.model_dump(mode="json") for op in state.operations],
        "finished_at": now.isoformat(),
    }
    if before is not None and before.images:
        document["images"] = [i.model_dump(mode="json") for i in before.images]
        document["rounds"] = [r.model_dump(mode="json") for r in before.rounds]
    ended = jobs.record_ending(
        state.job_id,
        ending,
        finished_at=now.isoformat(),
        operations=state.operations,
        result_key=key,
        images=before.images if before is not None and before.images else None,
        rounds=before.rounds if before is not None else None,
    )
    storage.put_json(key, document)
    # The job's gallery page shows what it got and why it ended; its event tells the store.
    publish_gallery(storage, jobs, ended)
    if events is not None:
        events.job_finished(ended, storage.bucket)
    logger.warning("job failed", extra={"status": ending.status.value, "reason": ending.reason})
    if ending.metric:
        count(ending.metric)
    return state
