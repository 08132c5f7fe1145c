"""What a status check means for the job: wait again, copy the results, or end it.

``decide_after_check`` is the decision table of the "Check operation status" task, as a pure
function of the round's operations (with the statuses Aiuta just gave) and the poll schedule:

| the round's operations                         | decision                                    |
| ---------------------------------------------- | ------------------------------------------- |
| all ended, at least one SUCCESS                | READY: copy them (PARTIAL if any failed)    |
| all ended, none SUCCESS, earlier rounds copied | READY: nothing new; the job ends PARTIAL    |
| all ended, none SUCCESS, nothing copied yet    | FAILED                                      |
| some unfinished, before the deadline           | WAITING                                     |
| some unfinished at the deadline                | READY if anything can be copied, else TIMED_OUT |

A status this code does not know (Aiuta added one) counts as unfinished: it is polled again,
counted (``UnknownOperationStatus``) and, if it lasts, named in the deadline's reason.

What the schedule learns from a check is decided here too, from what a check can see: a round
that ended is known to have ended between the last check that found it running
(``PollState.checked_at``, or the create) and this one; a round still running at the deadline is
known only to take longer. ``CheckDecision.observation`` carries that, and ``poll_after_check`` is
the schedule the next check starts from. The status-check Lambda and ``bench/polling.py`` both
run exactly these two functions, with a real clock and a simulated one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from studio_core.aiuta.requests import OperationPriority
from studio_core.domain.learned_polling import DurationObservation
from studio_core.domain.polling import PollSettings, plan_next_check
from studio_core.domain.state import OperationRef, PollState, StepStatus

# Aiuta may answer ``null`` for an operation it has only just created. A not-found answer fails
# the operation only once it has lasted this many checks in a row and this long since the create.
NOT_FOUND_GRACE_CHECKS = 3
NOT_FOUND_GRACE_SECONDS = 30.0

# A check that changed nothing a person sees writes the job record at most this often (its check
# count and last check time, which ``studio watch`` and ``studio status`` show as recorded).
RECORD_CHECK_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class CheckDecision:
    status: StepStatus
    attempt: int
    wait_seconds: int | None = None  # with WAITING: the next Wait state's seconds
    # With FAILED or TIMED_OUT: why. With READY: what will not be copied (the job ends PARTIAL).
    failure_reason: str | None = None
    operation_seconds: float | None = None  # with READY when every operation ended: how long Aiuta took
    unknown_statuses: list[str] = field(default_factory=list)
    # What the duration estimate learns: when every operation ended (READY), or that they outlasted
    # the deadline; None otherwise (still waiting, or FAILED: a failure's time is not a duration).
    observation: DurationObservation | None = None


def describe_status(op: OperationRef) -> str:
    if op.status_known:
        return str(op.status)
    return f"{str(op.status)!r} (a status this pipeline does not know, so it counted as unfinished)"


def describe_failure(failed: list[OperationRef]) -> str:
    return "; ".join(
        f"{op.name} ended {op.status}: {op.error or 'Aiuta gave no error text'}" for op in failed
    )


def describe_unfinished(unfinished: list[OperationRef], deadline: datetime | None) -> str:
    when = f"the deadline {deadline.isoformat()}" if deadline else "the deadline"
    states = ", ".join(f"{op.name} {describe_status(op)}" for op in unfinished)
    return f"Aiuta had not finished by {when} ({states})"


def still_in_not_found_grace(not_found_checks: int, seconds_since_create: float) -> bool:
    """Whether an operation Aiuta does not know may still appear (right after its create)."""
    return not_found_checks < NOT_FOUND_GRACE_CHECKS or seconds_since_create < NOT_FOUND_GRACE_SECONDS


def decide_after_check(
    operations: list[OperationRef],
    poll: PollState,
    now: datetime,
    priority: OperationPriority,
    settings: PollSettings,
    *,
    has_results: bool = False,
    rate_pressure: float = 0.0,
) -> CheckDecision:
    """The table above; ``has_results``: earlier rounds of the job are already in the bucket;
    ``rate_pressure`` (0..1): how hard Aiuta's request rate binds (longer waits when it does)."""
    attempt = poll.attempt + 1
    elapsed = (now - poll.started_at).total_seconds()
    running_until = (poll.checked_at - poll.started_at).total_seconds() if poll.checked_at else 0.0
    failed = [op for op in operations if op.failed]
    succeeded = [op for op in operations if op.succeeded]
    unfinished = [op for op in operations if not op.finished]
    unknown = [str(op.status) for op in operations if not op.status_known]
    something_to_keep = bool(succeeded) or has_results
    if not unfinished:
        if not something_to_keep:
            return CheckDecision(StepStatus.FAILED, poll.attempt, failure_reason=describe_failure(failed))
        return CheckDecision(
            StepStatus.READY,
            poll.attempt,
            failure_reason=describe_failure(failed) or None,
            operation_seconds=elapsed,
            observation=DurationObservation(running_until, elapsed),
        )
    plan = plan_next_check(poll, now, attempt, priority, settings, rate_pressure=rate_pressure)
    if plan.timed_out:
        reason = "; ".join(
            part
            for part in (describe_unfinished(unfinished, poll.deadline), describe_failure(failed))
            if part
        )
        status = StepStatus.READY if something_to_keep else StepStatus.TIMED_OUT
        return CheckDecision(
            status,
            poll.attempt,
            failure_reason=reason,
            unknown_statuses=unknown,
            observation=DurationObservation(elapsed, None),
        )
    return CheckDecision(
        StepStatus.WAITING, plan.attempt, wait_seconds=plan.wait_seconds, unknown_statuses=unknown
    )


def poll_after_check(poll: PollState, decision: CheckDecision, now: datetime) -> PollState:
    """The schedule the next check starts from: the checks made, the next wait, and (when the round
    is still running) this check's time, which the next check's observation and latency need."""
    update: dict[str, object] = {"attempt": decision.attempt, "slept_seconds": 0.0}
    if decision.wait_seconds is not None:
        update["wait_seconds"] = decision.wait_seconds
    if decision.status is StepStatus.WAITING:
        update["checked_at"] = now
    return poll.model_copy(update=update)


def seen_on_record(operations: list[OperationRef]) -> list[tuple[str | None, str, str | None]]:
    """What a person sees of the operations on the job record: each one's status and error."""
    return [(op.operation_id, str(op.status), op.error) for op in operations]


def record_due(
    seen_before: list[tuple[str | None, str, str | None]],
    operations: list[OperationRef],
    status: StepStatus,
    poll: PollState,
    now: datetime,
) -> bool:
    """Whether this check writes the job record: always when an operation's status or error
    changed or the round's checks end (any decision but WAITING: copy, fail, time out); otherwise
    once ``RECORD_CHECK_EVERY_SECONDS`` have passed since the last write (submit's, or a check's)."""
    if status is not StepStatus.WAITING or seen_on_record(operations) != seen_before:
        return True
    last = poll.recorded_at or poll.started_at
    return (now - last).total_seconds() >= RECORD_CHECK_EVERY_SECONDS
