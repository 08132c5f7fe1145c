"""Task "Start regeneration round": regenerate chosen on-figure types from the last operation."""

from __future__ import annotations

from datetime import UTC, datetime

from studio_core.aiuta.operations import REGENERATE, Creator
from studio_core.aiuta.requests import RegenerateOnFigureImagesRequest
from studio_core.aws.duration_estimates import DurationEstimates
from studio_core.aws.jobs_table import JobsTable
from studio_core.domain.errors import InvalidJob, JobCancelled
from studio_core.domain.polling import PollSettings, start_polling
from studio_core.domain.state import JobState, OperationRef, StepStatus
from studio_core.domain.vocabulary import Kind
from studio_core.observability import count, logger


def latest_on_figure_operation(state: JobState) -> OperationRef:
    candidates = [op for op in state.operations if op.kind is Kind.ON_FIGURE and op.succeeded]
    if not candidates:
        raise InvalidJob(
            f"job {state.job_id} has no finished on-figure operation to regenerate from; "
            "regeneration is on-figure only"
        )
    return max(candidates, key=lambda op: op.round)


def start_regeneration_round(
    state: JobState,
    *,
    jobs: JobsTable,
    create: Creator,
    poll: PollSettings,
    estimates: DurationEstimates,
    now: datetime | None = None,
) -> JobState:
    """POSTs the pending round's regeneration and sends the state back into the poll loop."""
    now = now or datetime.now(UTC)
    if state.pending_round is None:
        raise InvalidJob(f"job {state.job_id} has no regeneration round to start")
    record = jobs.get(state.job_id)
    if record is not None and record.cancel_requested_at:
        raise JobCancelled(f"job {state.job_id} was cancelled: its next regeneration round was not started")
    original = latest_on_figure_operation(state)
    next_round = state.round + 1
    request = RegenerateOnFigureImagesRequest(
        original_operation_id=original.operation_id,
        image_types=list(state.pending_round.image_types),
        number_of_generations=state.pending_round.number_of_generations,
    )
    operation_id = create(
        f"{state.job_id}#{REGENERATE}#{next_round}", {"action": REGENERATE, "request": request.to_api()}
    )
    state.operations.append(
        OperationRef(
            kind=Kind.ON_FIGURE,
            operation_id=operation_id,
            round=next_round,
            image_types=list(request.image_types),
            number_of_generations=request.number_of_generations or original.number_of_generations,
        )
    )
    state.round = next_round
    priority = state.job.operation_priority
    state.poll = start_polling(priority, poll, now, estimates.current(priority, poll))
    state.status = StepStatus.WAITING
    logger.info(
        "regeneration round started",
        extra={"round": next_round, "operation_id": operation_id, "reason": state.pending_round.reason},
    )
    count("RegenerationRounds")
    count(
        "ImagesPaid",
        len(request.image_types) * (request.number_of_generations or original.number_of_generations),
    )
    jobs.mark_regenerating(
        state.job_id, round_=next_round, operations=state.operations, poll_plan=state.poll.plan
    )
    state.pending_round = None
    return state
