"""Task "Record failure": the job's terminal FAILED or TIMED_OUT record, with its reason."""

from __future__ import annotations

from datetime import UTC, datetime

from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.errors import JobTimedOut, OperationFailed
from studio_core.domain.keys import result_key
from studio_core.domain.state import JobFailure, JobState, StepStatus
from studio_core.observability import count, logger


def failure_of(state: JobState) -> JobFailure:
    """The error name and cause the execution ends with: the caught error's, else the workflow's own."""
    if state.error is not None:
        return JobFailure(error=state.error.error, cause=f"{state.error.error}: {state.error.message}")
    if state.status is StepStatus.TIMED_OUT:
        reason = state.failure_reason or "Aiuta had not finished by the job's deadline"
        return JobFailure(error=JobTimedOut.__name__, cause=reason)
    reason = state.failure_reason or "the job failed without a recorded reason"
    return JobFailure(error=OperationFailed.__name__, cause=reason)


def record_failure(
    state: JobState, *, jobs: JobsTable, storage: Storage, now: datetime | None = None
) -> JobState:
    now = now or datetime.now(UTC)
    timed_out = state.status is StepStatus.TIMED_OUT
    failure = failure_of(state)
    state.status = StepStatus.TIMED_OUT if timed_out else StepStatus.FAILED
    state.failure_reason = failure.cause
    state.failure = failure
    jobs.mark_failed(
        state.job_id,
        timed_out=timed_out,
        error=failure.cause,
        finished_at=now.isoformat(),
        operations=state.operations,
    )
    storage.put_json(
        result_key(state.product_id, state.job_id),
        {
            "job_id": state.job_id,
            "product_id": state.product_id,
            "status": state.status.value,
            "error": failure.cause,
            "operations": [op.model_dump(mode="json") for op in state.operations],
            "finished_at": now.isoformat(),
        },
    )
    logger.warning("job failed", extra={"status": state.status.value, "reason": failure.cause})
    count("JobsTimedOut" if timed_out else "JobsFailed")
    return state
