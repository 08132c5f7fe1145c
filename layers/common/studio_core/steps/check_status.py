"""Check the round's operations at Aiuta and tell the state machine what to do next."""

from __future__ import annotations

from datetime import UTC, datetime

from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.models import FlatLayOperation, OnFigureOperation, OperationStatus
from studio_core.aws.jobs_table import JobsTable
from studio_core.domain.jobs import JobSpec
from studio_core.domain.polling import plan_next_check
from studio_core.domain.state import JobState, Kind, OperationRef, StepStatus
from studio_core.observability import count, logger, seconds
from studio_core.settings import PollSettings

FAILED_STATUSES = frozenset({OperationStatus.FAILED, OperationStatus.CANCELLED, OperationStatus.ABORTED})


def fetch_operation(client: AiutaStudioClient, op: OperationRef) -> OnFigureOperation | FlatLayOperation:
    if op.kind is Kind.ON_FIGURE:
        return client.get_on_figure_operation(op.operation_id)
    return client.get_flat_lay_operation(op.operation_id)


def describe_failure(failed: list[OperationRef]) -> str:
    return "; ".join(
        f"the {op.kind.value} operation {op.operation_id} ended {op.status.value}: "
        f"{op.error or 'Aiuta gave no error text'}"
        for op in failed
    )


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

    failed = [op for op in current if op.status in FAILED_STATUSES]
    if failed:
        state.status = StepStatus.FAILED
        state.failure_reason = describe_failure(failed)
        count("OperationsFailed")
    elif all(op.status is OperationStatus.SUCCESS for op in current):
        state.status = StepStatus.READY
        seconds("OperationDuration", (now - state.poll.started_at).total_seconds())
    else:
        spec = JobSpec.from_state(state.job)
        decision = plan_next_check(
            now,
            state.poll.started_at,
            state.poll.deadline,
            state.poll.attempt + 1,
            spec.operation_priority,
            poll,
        )
        if decision.timed_out:
            state.status = StepStatus.TIMED_OUT
            waiting = ", ".join(f"{op.kind.value} {op.status.value}" for op in current)
            state.failure_reason = (
                f"Aiuta had not finished by the deadline {state.poll.deadline.isoformat()} ({waiting})"
            )
        else:
            state.status = StepStatus.WAITING
            state.poll.wait_seconds = decision.wait_seconds
            state.poll.attempt = decision.attempt
    logger.info(
        "operations checked",
        extra={
            "step_status": state.status.value,
            "operations": {op.operation_id: op.status.value for op in current},
        },
    )
    jobs.update(
        state.job_id,
        operations=[op.model_dump(mode="json") for op in state.operations],
        last_checked_at=now.isoformat(),
        poll_attempts=state.poll.attempt,
    )
    return state
