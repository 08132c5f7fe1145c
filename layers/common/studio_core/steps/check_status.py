"""Task "Check operation status": ask Aiuta how the round is going and plan the next wait.

An id Aiuta does not know (``null``, or 404) right after its create is checked again for a short
grace (``domain.progress.NOT_FOUND_GRACE_*``) before the operation counts as failed. A resumed job
(``studio resume``) arrives without a schedule and gets a fresh one, with a fresh deadline.

The check that sees an operation succeed keeps Aiuta's answer (what the copy needs of it,
``domain.kept_answers``) for the copy, which then does not read the operation again. If it cannot
be kept, the job goes on to the copy all the same, and the copy asks Aiuta.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from studio_core.aiuta.answers import FlatLayOperation, OnFigureOperation, OperationStatus
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.operations import fetch_operation
from studio_core.aws.duration_estimates import DurationEstimates
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.operation_answers import OperationAnswers
from studio_core.domain.errors import AiutaNotFound
from studio_core.domain.kept_answers import kept_for_copy
from studio_core.domain.polling import PollSettings, start_polling
from studio_core.domain.progress import decide_after_check, poll_after_check, still_in_not_found_grace
from studio_core.domain.state import JobState, OperationRef, StepStatus
from studio_core.observability import count, logger, seconds


def read_operation(
    client: AiutaStudioClient, op: OperationRef, seconds_since_create: float
) -> OnFigureOperation | FlatLayOperation | None:
    """Updates ``op`` from Aiuta and returns the answer; a not-found answer (None) counts towards
    the grace, then fails it."""
    try:
        operation = fetch_operation(client, op)
    except AiutaNotFound as exc:
        op.not_found_polls += 1
        if still_in_not_found_grace(op.not_found_polls, seconds_since_create):
            logger.info(
                "Aiuta does not know the operation yet; checking again",
                extra={"operation_id": op.operation_id, "not_found_polls": op.not_found_polls},
            )
            return None
        op.status = OperationStatus.FAILED
        op.error = (
            f"Aiuta does not know this operation ({op.not_found_polls} checks in a row over "
            f"{seconds_since_create:.0f} s): {exc}"
        )
        return None
    op.not_found_polls = 0
    op.status, op.error = operation.status, operation.error
    if not op.status_known:
        logger.warning(
            "Aiuta answered an operation status this pipeline does not know; it counts as unfinished",
            extra={"operation_id": op.operation_id, "status": str(op.status)},
        )
        count("UnknownOperationStatus")
    return operation


def keep_answer(
    answers: OperationAnswers,
    job_id: str,
    operation_id: str,
    answer: OnFigureOperation | FlatLayOperation,
    seen_at: datetime,
) -> None:
    """Keeps a succeeded operation's answer for the copy; a failure to keep it only costs the copy
    one more read at Aiuta."""
    kept = kept_for_copy(answer)
    if kept is None:
        problem = "the answer is larger than answers are kept"
    else:
        try:
            answers.keep(job_id, operation_id, kept, seen_at)
            return
        except (BotoCoreError, ClientError) as exc:
            problem = str(exc)
    logger.warning(
        "the answer was not kept; the copy will ask Aiuta",
        extra={"operation_id": operation_id, "error": problem},
    )
    count("AnswersNotKept")


def check_job(
    state: JobState,
    *,
    client: AiutaStudioClient,
    jobs: JobsTable,
    poll: PollSettings,
    estimates: DurationEstimates | None = None,
    now: datetime | None = None,
    rate_pressure: float | Callable[[], float] = 0.0,
    answers: OperationAnswers | None = None,
) -> JobState:
    """One check of the round: read each unfinished operation, decide, learn what the check saw.

    ``rate_pressure`` (0..1, ``learned_polling.rate_pressure_from``) lengthens the next wait when
    Aiuta's request rate binds; a callable is asked after the reads (the Lambda passes
    ``RequestBudget.rate_pressure``: the creates waiting, as the reads' turns saw them). With
    ``answers``, the answer of each operation this check sees succeed is kept for the copy.
    """
    now = now or datetime.now(UTC)
    priority = state.job.operation_priority
    if state.poll is None:
        if state.resume is None:
            raise ValueError("the state has no poll schedule; was the job submitted?")
        estimate = estimates.current(priority, poll) if estimates else None
        state.poll = start_polling(priority, poll, now, estimate)
    current = state.current_operations()
    since_create = (now - state.poll.started_at).total_seconds()
    for op in current:
        if not op.finished and op.operation_id is not None:
            answer = read_operation(client, op, since_create)
            if answer is not None and op.succeeded and answers is not None:
                keep_answer(answers, state.job_id, op.operation_id, answer, now)

    decision = decide_after_check(
        current,
        state.poll,
        now,
        priority,
        poll,
        has_results=state.has_copied_results(),
        rate_pressure=rate_pressure() if callable(rate_pressure) else rate_pressure,
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
    jobs.record_check(
        state.job_id,
        operations=state.operations,
        checked_at=now.isoformat(),
        poll_attempts=state.poll.attempt,
    )
    return state
