"""Task "Check operation status": ask Aiuta how the round is going and plan the next wait.

An invocation checks once, then again in-process while the schedule's next wait is shorter than a
turn of the state machine's loop is worth (``domain.check_loop``): it sleeps the wait and checks
again, each check the schedule's own, at most ``POLL_IN_LAMBDA_SECONDS`` asleep and never into
the last ``CHECK_RESERVE_SECONDS`` before the timeout. Each check takes its request turn; a check
in-process that finds none soon hands the wait back to the Wait state. ``$.checks`` names the
checks the invocation made.

An id Aiuta does not know (``null``, or 404) right after its create is checked again for a short
grace (``domain.progress.NOT_FOUND_GRACE_*``) before the operation counts as failed. A resumed job
(``studio resume``) arrives without a schedule and gets a fresh one, with a fresh deadline.

The check that sees an operation succeed keeps Aiuta's answer (what the copy needs of it,
``domain.kept_answers``) for the copy, which then does not read the operation again. If it cannot
be kept, the job goes on to the copy all the same, and the copy asks Aiuta.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from studio_core.aiuta.answers import FlatLayOperation, OnFigureOperation, OperationStatus
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.operations import fetch_operation
from studio_core.aws.duration_estimates import DurationEstimates
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.operation_answers import OperationAnswers
from studio_core.domain.check_loop import check_again_in_lambda
from studio_core.domain.errors import AiutaNotFound, AiutaRateLimited, CapacityUnavailable
from studio_core.domain.kept_answers import kept_for_copy
from studio_core.domain.learned_polling import ASSUMED_LATENCY_SECONDS, MAX_LATENCY_SECONDS
from studio_core.domain.polling import PollSettings, loop_latency, start_polling
from studio_core.domain.progress import (
    decide_after_check,
    poll_after_check,
    record_due,
    seen_on_record,
    still_in_not_found_grace,
)
from studio_core.domain.state import CheckMade, JobState, OperationRef, PollState, StepStatus
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

    The job record is written when something a person sees changed (an operation's status or
    error, the round's checks ending) and otherwise at most once a minute
    (``progress.record_due``): its check count and last check time are the last recorded ones.

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
    seen_before = seen_on_record(state.operations)
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
    if record_due(seen_before, state.operations, state.status, state.poll, now):
        jobs.record_check(
            state.job_id,
            operations=state.operations,
            checked_at=now.isoformat(),
            poll_attempts=state.poll.attempt,
        )
        state.poll = state.poll.model_copy(update={"recorded_at": now})
    return state


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_across_short_waits(
    state: JobState,
    *,
    client: AiutaStudioClient,
    jobs: JobsTable,
    poll: PollSettings,
    in_lambda_seconds: float,
    remaining_seconds: Callable[[], float],
    memory_mb: int,
    estimates: DurationEstimates | None = None,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    rate_pressure: float | Callable[[], float] = 0.0,
    answers: OperationAnswers | None = None,
) -> JobState:
    """One invocation: a check, then more while ``check_loop.check_again_in_lambda`` says the next
    wait is cheaper asleep here than in the Wait state. ``remaining_seconds``: the invocation's
    time left (the Lambda context's); ``clock`` and ``sleep``: real time, or a test's."""
    checks: list[CheckMade] = []
    slept = 0.0  # the invocation's time between in-process checks, as planned
    latency = 0.0  # the loop's latency the schedule measured at the last check

    def checked(current: JobState) -> JobState:
        nonlocal latency
        now = clock()
        before = current.poll
        current = check_job(
            current,
            client=client,
            jobs=jobs,
            poll=poll,
            estimates=estimates,
            now=now,
            rate_pressure=rate_pressure,
            answers=answers,
        )
        latency = measured_latency(before, current, now)
        checks.append(made(current, now, (before.attempt if before is not None else 0) + 1))
        return current

    state = checked(state)
    while (
        state.status is StepStatus.WAITING
        and state.poll is not None
        and state.poll.checked_at is not None
        and check_again_in_lambda(
            state.poll.wait_seconds,
            latency_seconds=latency,
            slept_seconds=slept,
            remaining_seconds=remaining_seconds(),
            limit_seconds=in_lambda_seconds,
            memory_mb=memory_mb,
        )
    ):
        # The next check reads when it would after a Wait state: latency + wait after this one.
        gap = latency + state.poll.wait_seconds
        sleep(max(0.0, (state.poll.checked_at + timedelta(seconds=gap) - clock()).total_seconds()))
        slept += gap
        before = state.model_copy(deep=True)
        try:
            state = checked(state)
        except (CapacityUnavailable, AiutaRateLimited) as exc:
            state = hand_back_to_wait(before, clock(), exc.retry_after)
            break
    state.checks = checks
    return state


def measured_latency(before: PollState | None, after: JobState, now: datetime) -> float:
    """The loop latency the schedule planned the next wait with (``polling.loop_latency``)."""
    measured = loop_latency(before, now) if before is not None else None
    if measured is None:
        plan = after.poll.plan if after.poll is not None else None
        measured = plan.latency_seconds if plan is not None else ASSUMED_LATENCY_SECONDS
    return min(MAX_LATENCY_SECONDS, max(0.0, measured))


def hand_back_to_wait(state: JobState, now: datetime, retry_after: float | None) -> JobState:
    """The state of the last check made, waiting in the Wait state for a request turn: the time
    already slept since that check is kept apart so the next check's latency stays the loop's."""
    assert state.poll is not None and state.poll.checked_at is not None
    to_deadline = math.ceil((state.poll.deadline - now).total_seconds())
    wait = max(1, min(math.ceil(retry_after or 1), to_deadline))
    logger.info("no request turn for a check in-process; the Wait state waits", extra={"wait_seconds": wait})
    state.poll = state.poll.model_copy(
        update={
            "wait_seconds": wait,
            "slept_seconds": max(0.0, (now - state.poll.checked_at).total_seconds()),
        }
    )
    return state


def made(state: JobState, now: datetime, attempt: int) -> CheckMade:
    """The check numbered ``attempt`` in its round (a round's last check keeps the schedule's count,
    ``CheckDecision.attempt``, but is a check all the same)."""
    return CheckMade(
        attempt=attempt,
        at=now,
        operations={op.operation_id or op.name: str(op.status) for op in state.current_operations()},
    )
