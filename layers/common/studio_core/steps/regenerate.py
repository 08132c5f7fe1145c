"""Task "Start regeneration round": regenerate chosen on-figure types from the last operation (and,
for a review decision, create the new operations it asks for in the same round)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from studio_core.aiuta.operations import REGENERATE, Creator
from studio_core.aiuta.requests import ProductInfo, RegenerateOnFigureImagesRequest
from studio_core.aws.duration_estimates import DurationEstimates
from studio_core.aws.jobs_table import JobsTable
from studio_core.domain.errors import InvalidJob, JobCancelled
from studio_core.domain.jobs import ImageTypes
from studio_core.domain.polling import PollSettings, start_polling
from studio_core.domain.state import JobState, NewOperation, OperationRef, StepStatus
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
    product_info: Callable[[], ProductInfo] | None = None,
    rate_pressure: float | Callable[[], float] = 0.0,
) -> JobState:
    """POSTs the pending round's regeneration (and any new operations a review asked for, made
    from the job's inputs by ``product_info``) and sends the state back into the poll loop, its
    first check later while the request rate binds (``rate_pressure``, 0..1)."""
    now = now or datetime.now(UTC)
    if state.pending_round is None:
        raise InvalidJob(f"job {state.job_id} has no regeneration round to start")
    record = jobs.get(state.job_id)
    if record is not None and record.cancel_requested_at:
        raise JobCancelled(f"job {state.job_id} was cancelled: its next regeneration round was not started")
    next_round = state.round + 1
    if state.pending_round.image_types:
        state.operations.append(_regenerate(state, next_round, create))
    for new_operation in state.pending_round.new_operations:
        if product_info is None:
            raise InvalidJob(
                f"job {state.job_id}: a new {new_operation.kind.value} operation needs its inputs"
            )
        state.operations.append(_create_new(state, next_round, new_operation, product_info(), create))
    state.round = next_round
    priority = state.job.operation_priority
    # The pressure the create's own request turn saw (``clients.rate_pressure``): no request of its own.
    pressure = rate_pressure() if callable(rate_pressure) else rate_pressure
    state.poll = start_polling(priority, poll, now, estimates.current(priority, poll), rate_pressure=pressure)
    state.status = StepStatus.WAITING
    logger.info(
        "regeneration round started",
        extra={
            "round": next_round,
            "operations": [op.operation_id for op in state.current_operations()],
            "reason": state.pending_round.reason,
        },
    )
    count("RegenerationRounds")
    jobs.mark_regenerating(
        state.job_id, round_=next_round, operations=state.operations, poll_plan=state.poll.plan
    )
    state.pending_round = None
    return state


def _regenerate(state: JobState, round_: int, create: Creator) -> OperationRef:
    """The on-figure types again, from the latest on-figure operation: the same model."""
    assert state.pending_round is not None
    original = latest_on_figure_operation(state)
    request = RegenerateOnFigureImagesRequest(
        original_operation_id=original.operation_id,
        image_types=list(state.pending_round.image_types),
        number_of_generations=state.pending_round.number_of_generations,
    )
    operation_id = create(
        f"{state.job_id}#{REGENERATE}#{round_}", {"action": REGENERATE, "request": request.to_api()}
    )
    generations = request.number_of_generations or original.number_of_generations
    count("ImagesPaid", len(request.image_types) * generations)
    return OperationRef(
        kind=Kind.ON_FIGURE,
        operation_id=operation_id,
        round=round_,
        image_types=list(request.image_types),
        number_of_generations=generations,
    )


def _create_new(
    state: JobState, round_: int, new_operation: NewOperation, info: ProductInfo, create: Creator
) -> OperationRef:
    """A new operation of the job's settings for some of its types (a review's rejected flat-lay
    types, or a kind whose operation failed), in the round; idempotent per job, kind and round."""
    kind = new_operation.kind
    types = ImageTypes.model_validate({kind.value: [t.label for t in new_operation.image_types]})
    spec = state.job.model_copy(update={"image_types": types})
    request = spec.on_figure_request(info) if kind is Kind.ON_FIGURE else spec.flat_lay_request(info)
    operation_id = create(
        f"{state.job_id}#{kind.value}#{round_}", {"action": kind.value, "request": request.to_api()}
    )
    count("OperationsCreated", kind=kind.value)
    count("ImagesPaid", len(request.image_types) * request.number_of_generations)
    return OperationRef(
        kind=kind,
        operation_id=operation_id,
        round=round_,
        image_types=list(request.image_types),
        number_of_generations=request.number_of_generations,
    )
