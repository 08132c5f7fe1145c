"""The state a Step Functions execution carries from task to task.

Every task Lambda receives the whole ``JobState`` and returns it updated; the ASL's Choice
states branch on ``status``. It stays small and readable because people read it in the console:
the job spec, the operations, the poll schedule, and (after a Catch) the error.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_serializer, field_validator

from studio_core.aiuta.answers import OperationStatus, StatusValue, known
from studio_core.domain.base import Model
from studio_core.domain.capacity import CapacityWait
from studio_core.domain.jobs import JobSpec
from studio_core.domain.learned_polling import PollPlan
from studio_core.domain.limits import clip
from studio_core.domain.quote import Cost
from studio_core.domain.vocabulary import Kind, LabelledImageType, LabelledOnFigureType


class StepStatus(StrEnum):
    """What the state machine does next (see ``statemachine/studio_job.asl.json``)."""

    WAITING = "WAITING"  # poll again after poll.wait_seconds
    READY = "READY"  # every operation ended (or the deadline came) and there is something to copy
    REGENERATE = "REGENERATE"  # finalize asked for another on-figure round
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"  # what succeeded is copied; failure_reason names what did not
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"  # stopped on request; what it paid for is copied
    AWAITING_REVIEW = "AWAITING_REVIEW"  # review required: wait for a decision (domain.review)
    PUBLISH = "PUBLISH"  # the review approved (or review auto): publish, then the job ends


FAILED_STATUSES = frozenset({OperationStatus.FAILED, OperationStatus.CANCELLED, OperationStatus.ABORTED})


class OperationRef(Model):
    """One Aiuta operation of the job: the first round per kind, then one per regeneration round.

    ``status`` is Aiuta's, or the raw string of a status this code does not know (unfinished).
    ``operation_id`` is None when the create itself failed without a confirmed operation (the
    status is then FAILED and ``error`` says why). ``not_found_polls`` counts the checks in a
    row that Aiuta did not know the id (it may answer ``null`` right after a create).
    ``copied`` is set once finalize has copied a succeeded operation's images.
    """

    # Assignments are validated too: the check assigns Aiuta's error text, which is cut to a length.
    model_config = ConfigDict(validate_assignment=True)

    kind: Kind
    operation_id: str | None = None
    round: int = 0
    image_types: list[LabelledImageType] = Field(default_factory=list)
    number_of_generations: int = 1
    status: StatusValue = OperationStatus.CREATED
    error: str | None = None
    not_found_polls: int = 0
    copied: bool = False
    inherited: bool = False  # a regeneration request's base operation: another job paid for it

    @field_validator("error")
    @classmethod
    def _bounded_error(cls, error: str | None) -> str | None:
        # Aiuta's error text, kept cut to a length: the state holds at most 256 KB.
        return clip(error) if error else error

    @property
    def succeeded(self) -> bool:
        return self.status is OperationStatus.SUCCESS

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def finished(self) -> bool:
        """SUCCESS, FAILED, CANCELLED or ABORTED; an unknown status is not finished."""
        return self.succeeded or self.failed

    @property
    def status_known(self) -> bool:
        return known(self.status)

    @property
    def name(self) -> str:
        """How a person reads it in a reason: ``the flat_lay operation flatlay_op-12``."""
        which = f"{self.kind.value} operation" + (f" of round {self.round}" if self.round else "")
        return f"the {which} {self.operation_id}" if self.operation_id else f"the {which}"


def paid_for(operations: list[OperationRef]) -> Cost:
    """What creating these operations cost: each one Aiuta confirmed, with the images it asked for."""
    paid = [op for op in operations if op.operation_id and not op.inherited]
    return Cost(
        operations=len(paid),
        images=sum(len(op.image_types) * op.number_of_generations for op in paid),
    )


class PollState(Model):
    wait_seconds: int = Field(ge=0)
    attempt: int = 0
    started_at: datetime
    deadline: datetime
    plan: PollPlan | None = None  # the round's learned schedule (None in states from before it)
    # The last check that found the round running: its end lies after it (what the estimate
    # learns), and the time since it, less the wait, is the loop's own latency.
    checked_at: datetime | None = None
    # When a check last wrote the job record (``progress.record_due``); None: not since submit.
    recorded_at: datetime | None = None
    # Of the time since ``checked_at``, what the invocation already slept before it handed the
    # wait back to the Wait state (a check in-process found no request turn): not loop latency.
    slept_seconds: float = Field(default=0.0, ge=0)


class CheckMade(Model):
    """One check an invocation of "Check operation status" made (it makes several across short
    waits, ``domain.check_loop``): its number in the round, its clock reading, what Aiuta said."""

    attempt: int
    at: datetime
    operations: dict[str, str] = Field(default_factory=dict)  # operation id -> status


class StepError(Model):
    """What a Catch writes to ``$.error``: the Lambda's error name and its JSON cause."""

    model_config = ConfigDict(populate_by_name=True)
    error: str = Field(alias="Error")
    cause: str | None = Field(default=None, alias="Cause")

    @property
    def message(self) -> str:
        """The human part of the cause: Lambda wraps it as JSON with ``errorMessage``."""
        if not self.cause:
            return self.error
        try:
            cause = json.loads(self.cause)
        except ValueError:
            return self.cause
        if isinstance(cause, dict) and cause.get("errorMessage"):
            return str(cause["errorMessage"])
        return self.cause


class JobFailure(Model):
    """How the execution ends when the job failed: the Fail state's Error and Cause."""

    error: str  # a class name of domain.errors, e.g. OperationFailed, JobTimedOut, InvalidJob
    cause: str


class NewOperation(Model):
    """An operation a review decision asks for in its round: a kind, and its image types."""

    model_config = ConfigDict(extra="ignore")

    kind: Kind
    image_types: list[LabelledImageType]


class PendingRound(Model):
    """A regeneration round finalize decided on (or a review asked for), for the regenerate task to
    start: on-figure ``image_types`` regenerated from the latest on-figure operation, and any
    ``new_operations`` (a rejected or failed flat-lay type, an on-figure type with nothing to
    regenerate from) created with the job's inputs and settings."""

    image_types: list[LabelledOnFigureType]
    number_of_generations: int | None = None
    reason: str
    new_operations: list[NewOperation] = Field(default_factory=list)

    @field_validator("reason")
    @classmethod
    def _bounded_reason(cls, reason: str) -> str:
        return clip(reason)  # it quotes the checks' findings, which grow with the job


class ReviewStep(Model):
    """The review part of the state: the mode, the deadline the "Wait for review" task has
    (``TimeoutSecondsPath``), and what it resumed with (the decision's id)."""

    model_config = ConfigDict(extra="ignore")

    mode: str
    deadline_seconds: int = Field(ge=1)
    decision: dict[str, Any] | None = None


class ResumeRequest(Model):
    """A timed-out (or partly finished) job checked again: ``studio resume``, or the console with
    the shape of ``events/resume.json``. The execution goes straight into the check loop with a
    fresh deadline."""

    attempt: int = Field(default=1, ge=1)


class JobState(Model):
    # Built at import: five steps take it as their event, and Powertools' parser reuses the model's
    # validator only when it is built (else it builds one of its own, and the dump another).
    model_config = ConfigDict(extra="ignore", validate_assignment=True, defer_build=False)

    job_id: str
    product_id: str
    job: JobSpec
    input_keys: list[str] = Field(default_factory=list)
    # The version of each input key ingest read (and checked): Aiuta gets exactly those bytes.
    input_versions: dict[str, str] = Field(default_factory=dict)
    uploaded_image_ids: list[str] = Field(default_factory=list)
    operations: list[OperationRef] = Field(default_factory=list)
    poll: PollState | None = None
    status: StepStatus = StepStatus.WAITING
    round: int = 0
    pending_round: PendingRound | None = None
    error: StepError | None = None
    failure_reason: str | None = None
    failure: JobFailure | None = None
    images_copied: int = 0
    resume: ResumeRequest | None = None
    base_job_id: str | None = None  # a regeneration request: the job whose operation it builds on
    review: ReviewStep | None = None  # set by "Copy results to S3" when the job's review is not none
    # The checks the last "Check operation status" invocation made, first to last.
    checks: list[CheckMade] = Field(default_factory=list)
    # The wait for capacity the step comes back from ("Wait for capacity"). Read, never passed on:
    # a step that succeeds ends its wait, and a later wait starts a new one.
    capacity: CapacityWait | None = Field(default=None, exclude=True)

    @field_validator("failure_reason")
    @classmethod
    def _bounded_reason(cls, reason: str | None) -> str | None:
        # Reasons quote Aiuta's texts: kept cut to a length, as the state holds at most 256 KB.
        return clip(reason) if reason else reason

    def current_operations(self) -> list[OperationRef]:
        """The operations of the round being polled."""
        return [op for op in self.operations if op.round == self.round]

    def has_copied_results(self) -> bool:
        """Whether an earlier round (or an earlier execution of the job) already copied images."""
        return self.images_copied > 0 or any(op.copied for op in self.operations)

    @field_serializer("job")
    def _job_without_nulls(self, job: JobSpec) -> dict[str, Any]:
        return job.to_state()

    def to_output(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
