"""What a status check means for the job: wait again, copy the results, or end it.

``decide_after_check`` is the decision table of the "Check operation status" task, as a pure
function of the round's operations (with the statuses Aiuta just gave) and the poll schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from studio_core.aiuta.models import OperationPriority, OperationStatus
from studio_core.domain.polling import PollSettings, plan_next_check
from studio_core.domain.state import OperationRef, PollState, StepStatus

FAILED_STATUSES = frozenset({OperationStatus.FAILED, OperationStatus.CANCELLED, OperationStatus.ABORTED})


@dataclass(frozen=True)
class CheckDecision:
    status: StepStatus
    attempt: int
    wait_seconds: int | None = None  # with WAITING: the next Wait state's seconds
    failure_reason: str | None = None  # with FAILED or TIMED_OUT
    operation_seconds: float | None = None  # with READY: how long Aiuta took


def describe_failure(failed: list[OperationRef]) -> str:
    return "; ".join(
        f"the {op.kind.value} operation {op.operation_id} ended {op.status.value}: "
        f"{op.error or 'Aiuta gave no error text'}"
        for op in failed
    )


def decide_after_check(
    operations: list[OperationRef],
    poll: PollState,
    now: datetime,
    priority: OperationPriority,
    settings: PollSettings,
) -> CheckDecision:
    """Any operation failed: FAILED; all succeeded: READY; else wait again, or TIMED_OUT at the deadline."""
    attempt = poll.attempt + 1
    failed = [op for op in operations if op.status in FAILED_STATUSES]
    if failed:
        return CheckDecision(StepStatus.FAILED, poll.attempt, failure_reason=describe_failure(failed))
    if all(op.succeeded for op in operations):
        return CheckDecision(
            StepStatus.READY, poll.attempt, operation_seconds=(now - poll.started_at).total_seconds()
        )
    plan = plan_next_check(now, poll.started_at, poll.deadline, attempt, priority, settings)
    if plan.timed_out:
        waiting = ", ".join(f"{op.kind.value} {op.status.value}" for op in operations)
        reason = f"Aiuta had not finished by the deadline {poll.deadline.isoformat()} ({waiting})"
        return CheckDecision(StepStatus.TIMED_OUT, poll.attempt, failure_reason=reason)
    return CheckDecision(StepStatus.WAITING, plan.attempt, wait_seconds=plan.wait_seconds)
