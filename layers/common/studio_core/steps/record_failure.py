"""Record a job's terminal failure, with the reason a person needs to act on it."""

from __future__ import annotations

from datetime import UTC, datetime

from studio_core.aws.jobs_table import JobRecordStatus, JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.keys import result_key
from studio_core.domain.state import JobState, StepStatus
from studio_core.observability import count, logger


def failure_reason(state: JobState) -> str:
    if state.error is not None:
        return f"{state.error.error}: {state.error.message}"
    return state.failure_reason or "the job failed without a recorded reason"


def record_failure(
    state: JobState, *, jobs: JobsTable, storage: Storage, now: datetime | None = None
) -> JobState:
    now = now or datetime.now(UTC)
    timed_out = state.status is StepStatus.TIMED_OUT
    status = JobRecordStatus.TIMED_OUT if timed_out else JobRecordStatus.FAILED
    reason = failure_reason(state)
    state.status = StepStatus.TIMED_OUT if timed_out else StepStatus.FAILED
    state.failure_reason = reason
    jobs.update(
        state.job_id,
        status=status,
        error=reason,
        finished_at=now.isoformat(),
        operations=[op.model_dump(mode="json") for op in state.operations],
    )
    storage.put_json(
        result_key(state.product_id, state.job_id),
        {
            "job_id": state.job_id,
            "product_id": state.product_id,
            "status": status.value,
            "error": reason,
            "operations": [op.model_dump(mode="json") for op in state.operations],
            "finished_at": now.isoformat(),
        },
    )
    logger.warning("job failed", extra={"status": status.value, "reason": reason})
    count("JobsTimedOut" if timed_out else "JobsFailed")
    return state
