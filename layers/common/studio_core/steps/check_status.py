"""Task "Check operation status": ask Aiuta how the round is going and plan the next wait."""

from __future__ import annotations

from datetime import UTC, datetime

from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.operations import fetch_operation
from studio_core.aws.jobs_table import JobsTable
from studio_core.domain.polling import PollSettings
from studio_core.domain.progress import decide_after_check
from studio_core.domain.state import JobState, StepStatus
from studio_core.observability import count, logger, seconds


def check_job(
    state: JobState,
    *,
    client: AiutaStudioClient,
    jobs: JobsTable,
    poll: PollSettings,
    now: datetime | None = None,
) -> JobState:
    now = now or datetime.now(UTC)
    if state.poll is None:
        raise ValueError("the state has no poll schedule; was the job submitted?")
    current = state.current_operations()
    for op in current:
        if not op.status.is_terminal:
            operation = fetch_operation(client, op)
            op.status, op.error = operation.status, operation.error

    decision = decide_after_check(current, state.poll, now, state.job.operation_priority, poll)
    state.status = decision.status
    state.poll.attempt = decision.attempt
    if decision.wait_seconds is not None:
        state.poll.wait_seconds = decision.wait_seconds
    if decision.failure_reason is not None:
        state.failure_reason = decision.failure_reason
    if decision.status is StepStatus.FAILED:
        count("OperationsFailed")
    if decision.operation_seconds is not None:
        seconds("OperationDuration", decision.operation_seconds)
    logger.info(
        "operations checked",
        extra={
            "step_status": state.status.value,
            "operations": {op.operation_id: op.status.value for op in current},
        },
    )
    jobs.record_check(
        state.job_id,
        operations=state.operations,
        checked_at=now.isoformat(),
        poll_attempts=state.poll.attempt,
    )
    return state
