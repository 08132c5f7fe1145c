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

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from studio_core.aiuta.models import OperationStatus
from studio_core.domain.jobs import JobSpec
from studio_core.domain.vocabulary import Kind, LabelledImageType, LabelledOnFigureType


class StepStatus(StrEnum):
    """What the state machine does next (see ``statemachine/studio_job.asl.json``)."""

    WAITING = "WAITING"  # poll again after poll.wait_seconds
    READY = "READY"  # every operation succeeded: copy the results
    REGENERATE = "REGENERATE"  # finalize asked for another on-figure round
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"


class OperationRef(BaseModel):
    """One Aiuta operation of the job: the first round per kind, then one per regeneration round."""

    kind: Kind
    operation_id: str
    round: int = 0
    image_types: list[LabelledImageType] = Field(default_factory=list)
    number_of_generations: int = 1
    status: OperationStatus = OperationStatus.CREATED
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is OperationStatus.SUCCESS


class PollState(BaseModel):
    wait_seconds: int = Field(ge=0)
    attempt: int = 0
    started_at: datetime
    deadline: datetime


class StepError(BaseModel):
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


class JobFailure(BaseModel):
    """How the execution ends when the job failed: the Fail state's Error and Cause."""

    error: str  # a class name of domain.errors, e.g. OperationFailed, JobTimedOut, InvalidJob
    cause: str


class PendingRound(BaseModel):
    """A regeneration round finalize decided on, for the regenerate task to start."""

    image_types: list[LabelledOnFigureType]
    number_of_generations: int | None = None
    reason: str


class JobState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_id: str
    product_id: str
    job: JobSpec
    input_keys: list[str] = Field(default_factory=list)
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

    def current_operations(self) -> list[OperationRef]:
        """The operations of the round being polled."""
        return [op for op in self.operations if op.round == self.round]

    @field_serializer("job")
    def _job_without_nulls(self, job: JobSpec) -> dict[str, Any]:
        return job.to_state()

    def to_output(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
