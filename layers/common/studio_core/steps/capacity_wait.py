"""Task "Plan the wait for capacity": how long a job waits before the step that found no capacity
runs again (``Wait for capacity``), or that its deadline has come (TIMED_OUT, through Record failure).

Jobs waiting for capacity take turns in the waiting room (``aws.waiting_room.WaitingRoom``), so they
come back at the pace Aiuta can serve them, oldest first; a running job's checks never queue
behind new jobs (``domain.capacity.WaitingQueue``). A create that waits because the request rate
binds is noted as waiting until its turn (``WaitingRoom.note_create_waiting``): the status
checks and submits see the backlog of new work and poll less often while creates wait
(``steps.check_status``, ``steps.submit``).
The step's Catch put the error under ``$.capacity_error.<task>`` (``domain.capacity.CapacityTask``):
Aiuta's 429 (``AiutaRateLimited``), the pipeline's own budget or operations in flight used up
(``CapacityUnavailable``), or a throttled Lambda (``Lambda.TooManyRequestsException``). The answer
is the job state with ``$.capacity`` (what it waits for, how long, until when) and without
``$.capacity_error``; every other field of the state passes through unchanged, so the waiting
step gets back exactly what it had.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from studio_core.aws.waiting_room import WaitingRoom
from studio_core.domain.capacity import (
    CapacityTask,
    CapacityWait,
    behind_waiting_creates,
    episode_deadline,
    plan_capacity_wait,
    waits_for_a_request_turn,
)
from studio_core.domain.errors import CapacityUnavailable
from studio_core.domain.outcome import no_capacity_by_deadline
from studio_core.domain.state import JobState, StepError
from studio_core.observability import count, logger, seconds
from studio_core.settings import CapacityWaitSettings


def turn_in(room: WaitingRoom, task: CapacityTask, deadline: datetime) -> datetime | None:
    """The job's turn in the waiting room; the deadline if the queue is longer than the job can
    wait; None (plain backoff) if the room cannot be reached: it paces the jobs, it must never
    be the reason one fails."""
    try:
        reserved = room.turn(task, latest=deadline.timestamp())
    except (ClientError, BotoCoreError, CapacityUnavailable) as exc:
        logger.warning("the waiting room did not answer; backing off instead", extra={"error": str(exc)})
        count("WaitingRoomUnavailable")
        return None
    return datetime.fromtimestamp(reserved, UTC) if reserved is not None else deadline


def note_create_waiting(room: WaitingRoom, now: datetime, wait_seconds: int) -> None:
    """Notes the job's create as waiting for a request turn until it comes back; a failure only
    leaves the polls unaware of it (they poll for a low lag)."""
    try:
        room.note_create_waiting(now.timestamp() + wait_seconds)
    except (ClientError, BotoCoreError) as exc:
        logger.info("the waiting create was not noted", extra={"error": str(exc)})


def plan_wait(
    event: dict[str, Any],
    *,
    settings: CapacityWaitSettings,
    room: WaitingRoom | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    document = dict(event)
    caught = document.pop("capacity_error", None) or {}
    if len(caught) != 1:
        raise ValueError(f"expected the error of exactly one task under capacity_error, got {sorted(caught)}")
    [(task_name, error_document)] = caught.items()
    task = CapacityTask(task_name)
    error = StepError.model_validate(error_document)
    state = JobState.model_validate(document)
    previous = CapacityWait.model_validate(document["capacity"]) if document.get("capacity") else None
    poll_deadline = state.poll.deadline if task is CapacityTask.CHECK_STATUS and state.poll else None
    deadline = episode_deadline(
        now, settings.poll.deadline_seconds(state.job.operation_priority), poll_deadline
    )
    if previous is not None and previous.task is task:
        deadline = previous.deadline
    turn = turn_in(room, task, deadline) if room is not None and deadline > now else None
    plan = plan_capacity_wait(
        task=task,
        error=error.error,
        message=error.message,
        previous=previous,
        now=now,
        deadline=deadline,
        max_wait_seconds=settings.capacity_wait_max_seconds,
        rng=rng,
        turn=turn,
    )
    if plan.wait is None:
        document.pop("capacity", None)
        ending = no_capacity_by_deadline(plan.give_up_reason or "no capacity before the job's deadline")
        document["status"] = ending.step.value
        document["failure_reason"] = ending.reason
        logger.warning("no capacity before the deadline", extra={"task": task.value, "error": error.error})
        count("CapacityWaitsGivenUp")
        return document
    wait = plan.wait
    document["capacity"] = wait.model_dump(mode="json")
    if room is not None and waits_for_a_request_turn(task, error.error, error.message):
        note_create_waiting(room, now, wait.wait_seconds)
    details = {"task": task.value, "error": error.error, "attempt": wait.attempt}
    logger.info("waiting for capacity", extra={**details, "seconds": wait.wait_seconds})
    seconds("CapacityWaitSeconds", wait.wait_seconds)
    count("CapacityWaits")
    return document


def wait_behind_waiting_creates(
    document: dict[str, Any],
    *,
    creates_waiting: Callable[[], float],
    settings: CapacityWaitSettings,
    room: WaitingRoom,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new job's state as ingest starts it: with its wait for capacity already planned
    (``$.capacity``, task submit) while creates wait for a request turn, else unchanged.

    Its execution then starts in "Wait for capacity" and submits at its turn in the waiting room,
    the same turn the Submit step would have been refused into (``steps.submit
    .queue_behind_waiting_creates``): a Submit invocation, a planner invocation and their
    transitions fewer per job of a big drop. A backlog that cannot be read, or a plan that gives
    no wait, leaves the job to Submit, which looks again."""
    try:
        waiting = creates_waiting()
    except (BotoCoreError, ClientError) as exc:
        logger.info("the creates waiting could not be read; the job submits", extra={"error": str(exc)})
        return document
    if waiting < 1:
        return document
    refused = {"Error": "CapacityUnavailable", "Cause": behind_waiting_creates(waiting)}
    planned = plan_wait(
        {**document, "capacity_error": {CapacityTask.SUBMIT.value: refused}},
        settings=settings,
        room=room,
        now=now,
    )
    if "capacity" not in planned:
        return document
    count("NewJobsQueuedAtIngest")
    return planned
