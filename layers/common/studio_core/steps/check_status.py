"""Task "Check operation status": ask Aiuta how the round is going and plan the next wait.

An id Aiuta does not know (``null``, or 404) right after its create is checked again for a short
grace (``domain.progress.NOT_FOUND_GRACE_*``) before the operation counts as failed. A resumed job
(``studio resume``) arrives without a schedule and gets a fresh one, with a fresh deadline.
"""

from __future__ import annotations

from datetime import UTC, datetime

from studio_core.aiuta.answers import OperationStatus
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.operations import fetch_operation
from studio_core.aws.duration_estimates import DurationEstimates
from studio_core.aws.jobs_table import JobsTable
from studio_core.domain.errors import AiutaNotFound
from studio_core.domain.polling import PollSettings, start_polling
from studio_core.domain.progress import (
    decide_after_check,
    poll_after_check,
    record_due,
    seen_on_record,
    still_in_not_found_grace,
)
from studio_core.domain.state import JobState, OperationRef, StepStatus
from studio_core.observability import count, logger, seconds


def read_operation(client: AiutaStudioClient, op: OperationRef, seconds_since_create: float) -> None:
    """Updates ``op`` from Aiuta; a not-found answer counts towards the grace, then fails it."""
    try:
        operation = fetch_operation(client, op)
    except AiutaNotFound as exc:
        op.not_found_polls += 1
        if still_in_not_found_grace(op.not_found_polls, seconds_since_create):
            logger.info(
                "Aiuta does not know the operation yet; checking again",
                extra={"operation_id": op.operation_id, "not_found_polls": op.not_found_polls},
            )
            return
        op.status = OperationStatus.FAILED
        op.error = (
            f"Aiuta does not know this operation ({op.not_found_polls} checks in a row over "
            f"{seconds_since_create:.0f} s): {exc}"
        )
        return
    op.not_found_polls = 0
    op.status, op.error = operation.status, operation.error
    if not op.status_known:
        logger.warning(
            "Aiuta answered an operation status this pipeline does not know; it counts as unfinished",
            extra={"operation_id": op.operation_id, "status": str(op.status)},
        )
        count("UnknownOperationStatus")


def check_job(
    state: JobState,
    *,
    client: AiutaStudioClient,
    jobs: JobsTable,
    poll: PollSettings,
    estimates: DurationEstimates | None = None,
    now: datetime | None = None,
    rate_pressure: float = 0.0,
) -> JobState:
    """One check of the round: read each unfinished operation, decide, learn what the check saw.

    The job record is written when something a person sees changed (an operation's status or
    error, the round's checks ending) and otherwise at most once a minute
    (``progress.record_due``): its check count and last check time are the last recorded ones.

    ``rate_pressure`` (0..1, ``learned_polling.rate_pressure_from``) lengthens the next wait when
    Aiuta's request rate binds; nothing passes it yet (the capacity table's count of creates
    waiting is the signal to wire), so checks poll for a low lag.
    """
    now = now or datetime.now(UTC)
    priority = state.job.operation_priority
    if state.poll is None:
        if state.resume is None:
            raise ValueError("the state has no poll schedule; was the job submitted?")
        estimate = estimates.current(priority, poll) if estimates else None
        state.poll = start_polling(priority, poll, now, estimate)
    current = state.current_operations()
    seen_before = seen_on_record(state.operations)
    since_create = (now - state.poll.started_at).total_seconds()
    for op in current:
        if not op.finished and op.operation_id is not None:
            read_operation(client, op, since_create)

    decision = decide_after_check(
        current,
        state.poll,
        now,
        priority,
        poll,
        has_results=state.has_copied_results(),
        rate_pressure=rate_pressure,
    )
    state.status = decision.status
    state.poll = poll_after_check(state.poll, decision, now)
    if decision.failure_reason is not None:
        state.failure_reason = decision.failure_reason
    if decision.status is StepStatus.FAILED:
        count("OperationsFailed")
    if decision.operation_seconds is not None:
        seconds("OperationDuration", decision.operation_seconds)
    # A resumed round's checks started long after its create: they say nothing of its duration.
    if decision.observation is not None and estimates is not None and state.resume is None:
        estimates.observe(priority, decision.observation, poll)
    logger.info(
        "operations checked",
        extra={
            "step_status": state.status.value,
            "operations": {op.operation_id: str(op.status) for op in current},
        },
    )
    if record_due(seen_before, state.operations, state.status, state.poll, now):
        jobs.record_check(
            state.job_id,
            operations=state.operations,
            checked_at=now.isoformat(),
            poll_attempts=state.poll.attempt,
        )
        state.poll = state.poll.model_copy(update={"recorded_at": now})
    return state
