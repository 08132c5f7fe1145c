"""Domain exceptions, named for what the caller (and the state machine) must do with them.

In Step Functions a Lambda error surfaces with the exception's class name as its error name,
so ``statemachine/*.asl.json`` lists these names in its ``Retry`` and ``Catch`` blocks:
``AiutaRetryableError`` (and its subclasses) are retried with backoff; everything else is caught
and recorded as the job's failure.
"""

from __future__ import annotations

import math

from studio_core.domain.limits import clip


class StudioError(Exception):
    """Base of every error this project raises on purpose. Its message is bounded: a Catch puts it
    in the execution's state, which holds at most 256 KB (an Aiuta error text can be any size)."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(clip(str(message)), *args)


class InvalidJob(StudioError):
    """The job as the user wrote it cannot run; the message tells them what to fix."""


class AiutaError(StudioError):
    """A call to the Aiuta Studio API did not give the expected answer.

    ``may_have_reached_server`` says whether Aiuta may have acted on the request: when it is
    true for a POST that creates an operation, sending it again could create (and bill) a
    second operation.
    """

    def __init__(self, message: str, *, status_code: int | None = None, may_have_reached_server: bool = True):
        super().__init__(message)
        self.status_code = status_code
        self.may_have_reached_server = may_have_reached_server


class AiutaRetryableError(AiutaError):
    """A passing fault (server error, connection trouble): the same call may succeed later."""


class AiutaServerError(AiutaRetryableError):
    """Aiuta answered 5xx."""


class AiutaConnectionError(AiutaRetryableError):
    """No usable answer: the connection failed, dropped, or timed out."""


class AiutaRateLimited(AiutaRetryableError):
    """Aiuta answered 429; ``retry_after`` is its advice in seconds, when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, status_code: int | None = 429):
        super().__init__(message, status_code=status_code, may_have_reached_server=False)
        self.retry_after = retry_after


class CapacityUnavailable(StudioError):
    """The pipeline's own share of Aiuta is used up (its request budget, or its operations in
    flight): nothing was sent. Like ``AiutaRateLimited`` it sends the job to wait for capacity;
    ``retry_after`` (also in the message as ``retry after N s``) is when the budget has room, if known.
    """

    def __init__(self, message: str, *, retry_after: float | None = None):
        advice = f"; retry after {max(1, math.ceil(retry_after))} s" if retry_after is not None else ""
        super().__init__(message + advice)
        self.retry_after = retry_after


class AiutaOutcomeUnknown(AiutaError):
    """A create request may or may not have reached Aiuta; it is not sent again automatically."""


class AiutaRejectedRequest(AiutaError):
    """Aiuta refused the request as invalid (422); ``field_errors`` say which fields and why."""

    def __init__(self, message: str, *, field_errors: list[str] | None = None, status_code: int | None = 422):
        super().__init__(message, status_code=status_code, may_have_reached_server=False)
        self.field_errors = field_errors or []


class AiutaAuthError(AiutaError):
    """The API key is missing or wrong (401/403)."""


class AiutaNotFound(AiutaError):
    """The operation or image does not exist (404, or ``null`` for an unknown operation)."""


class OperationFailed(StudioError):
    """The Aiuta operation ended FAILED, CANCELLED or ABORTED; the message carries Aiuta's error."""


class JobTimedOut(StudioError):
    """The operation did not finish before the job's deadline."""


class JobCancelled(StudioError):
    """The job was cancelled (``studio cancel``, a file under cancel/): it creates nothing more."""


class InvalidDecision(StudioError):
    """A review decision (``review/<product>/<job>/<name>.json``) cannot be applied to its job; the
    message says why. The job keeps waiting for a decision that can."""
