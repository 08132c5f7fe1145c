"""Client for the Aiuta Studio API: ten endpoints, typed answers, errors a caller can act on.

Reads (GET) and deletes (DELETE) are idempotent, so they are retried here with backoff and
jitter on 429 (honouring ``Retry-After``), 5xx and connection trouble. A POST is never resent
once it may have reached Aiuta: creating an operation twice bills twice, so the caller decides,
helped by ``AiutaError.may_have_reached_server``.

With ``capacity`` (the account's share the pipeline may use, ``aws.capacity.AccountCapacity``),
every request (each retry of a GET or DELETE included) first takes a turn in the shared request
budget, every create holds an operation lease while it is in flight, and a read that finds an
operation finished gives its lease back. So every Lambda and every call path stays within the
account's configured rate and operations in flight.

A create cut off by the Lambda's timeout can never be sent again (Aiuta may have it), so with the
invocation's time registered (``register_lambda_context``) a create leaves only while there is
time to hear the answer and keep it: otherwise it is not sent (``CapacityUnavailable``), and the
job tries again in a fresh invocation instead of failing with a create that never left.

The key goes to the configured API's host and nowhere else: the base URL must be https (http
only on this machine's loopback, where the local stack's simulator listens), and no redirect is
followed (requests keeps a session's ``x-api-key`` on a redirect to another host; it strips only
``Authorization``). A redirect from the API is an error that says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from functools import cache
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import requests
from pydantic import BaseModel, TypeAdapter, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.retry import Retry

from studio_core.aiuta.answers import (
    AiutaImage,
    CreateOperationResponse,
    FlatLayOperation,
    HTTPValidationError,
    OnFigureModelPreset,
    OnFigureOperation,
)
from studio_core.aiuta.requests import (
    DEFAULT_BASE_URL,
    GenerateFlatLayImagesRequest,
    GenerateOnFigureImagesRequest,
    RegenerateOnFigureImagesRequest,
)
from studio_core.domain.base import Model
from studio_core.domain.errors import (
    AiutaAuthError,
    AiutaConnectionError,
    AiutaError,
    AiutaNotFound,
    AiutaOutcomeUnknown,
    AiutaRateLimited,
    AiutaRejectedRequest,
    AiutaServerError,
    CapacityUnavailable,
)
from studio_core.domain.urls import api_url_problem

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
# What an invocation must still have after a create's answer: the lease re-keyed by the new id and
# the idempotency record saved (``aiuta.operations``), each a DynamoDB call or two.
AFTER_ANSWER_SECONDS = 5.0
# The longest a capacity-table call takes before it gives up (``clients.QUICK``: two attempts of a
# 2 s connect and a 3 s read): a lease or a turn must not start later than this before a create.
TABLE_CALL_SECONDS = 10.0
FINISHED_STATUSES = frozenset({"SUCCESS", "FAILED", "CANCELLED", "ABORTED"})

logger = logging.getLogger(__name__)
ModelT = TypeVar("ModelT", bound=BaseModel)


class RequestTurns(Protocol):
    """A shared request budget: ``take()`` returns (the turn) when one request may be sent, or
    raises; ``create=True`` says the request creates an operation (the budget counts them);
    ``send_by`` (epoch seconds): no turn later than that, and no waiting past it."""

    def take(self, *, create: bool = False, send_by: float | None = None) -> float: ...


class InvocationContext(Protocol):
    """What the client reads of a Lambda context: the invocation's time left."""

    def get_remaining_time_in_millis(self) -> int: ...


class OperationLeases(Protocol):
    """Operations in flight: a lease per create, given back when the operation is seen finished."""

    def slot_for_create(self) -> AbstractContextManager[Callable[[str], None]]: ...

    def release(self, *leases: str) -> None: ...


class Capacity(Protocol):
    @property
    def requests(self) -> RequestTurns: ...

    @property
    def operations(self) -> OperationLeases: ...


class _CappedRetry(Retry):
    """urllib3's retry, with Aiuta's ``Retry-After`` advice capped so a Lambda never idles for long,
    and each retry sent only once the shared request budget gives it a turn."""

    max_retry_after: float = 30.0
    turns: RequestTurns | None = None

    def get_retry_after(self, response: Any) -> float | None:
        advice = super().get_retry_after(response)
        return None if advice is None else min(advice, self.max_retry_after)

    def sleep(self, response: Any = None) -> None:
        super().sleep(response)
        if self.turns is not None:
            self.turns.take()


@cache
def _validator(answer_type: Any) -> Callable[[Any], Any]:
    """How an answer is validated: a model by its own validator (built on its first use), another
    type (a list of models) by one ``TypeAdapter`` per process (each new one builds its own)."""
    if isinstance(answer_type, type) and issubclass(answer_type, BaseModel):
        return answer_type.model_validate
    return TypeAdapter(answer_type).validate_python


class RetryPolicy(Model):
    """How GET and DELETE calls are retried; tests shrink the delays."""

    attempts: int = 4
    backoff_factor: float = 0.5
    backoff_max: float = 20.0
    jitter: float = 0.5
    max_retry_after: float = 30.0

    def build(self, turns: RequestTurns | None = None) -> Retry:
        retry_class = type(
            "_Retry", (_CappedRetry,), {"max_retry_after": self.max_retry_after, "turns": turns}
        )
        retry: Retry = retry_class(
            total=self.attempts,
            connect=self.attempts,
            read=self.attempts,
            status=self.attempts,
            other=0,
            allowed_methods=frozenset({"GET", "DELETE"}),
            status_forcelist=RETRIED_STATUSES,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            backoff_jitter=self.jitter,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        return retry


class AiutaStudioClient:
    """A typed client for one Aiuta account (one API key)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        capacity: Capacity | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("an Aiuta API key is required")
        # The key is never sent in clear off this machine (settings restrict loopback http to the
        # local stack).
        problem = api_url_problem(base_url, allow_loopback_http=True)
        if problem:
            raise ValueError(problem)
        self.base_url = base_url.rstrip("/")
        self._timeout = (connect_timeout, read_timeout)
        self._session = session or requests.Session()
        self._capacity = capacity
        self._time_left: Callable[[], float] | None = None
        turns = capacity.requests if capacity is not None else None
        adapter = HTTPAdapter(max_retries=(retry or RetryPolicy()).build(turns))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update({"x-api-key": api_key, "Accept": "application/json"})

    def __repr__(self) -> str:
        return f"AiutaStudioClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def register_lambda_context(self, context: InvocationContext) -> None:
        """Sends a create only while this invocation has the time to hear its answer (call it at
        the start of every invocation that may create)."""
        self._time_left = lambda: context.get_remaining_time_in_millis() / 1000

    def _create_deadline(self) -> float | None:
        """The latest a create may leave (epoch seconds): its answer's whole timeout and
        ``AFTER_ANSWER_SECONDS`` before the invocation's end (None: no invocation registered)."""
        if self._time_left is None:
            return None
        return time.time() + self._time_left() - sum(self._timeout) - AFTER_ANSWER_SECONDS

    @staticmethod
    def _refuse_late_create(send_by: float | None, before: float = 0.0) -> None:
        if send_by is not None and time.time() + before > send_by:
            raise CapacityUnavailable(
                "this invocation had too little time left to send a create and hear Aiuta's answer, "
                "so the create was not sent; the job tries again in a fresh invocation",
                retry_after=1,
            )

    # Uploaded and generated images

    def upload_image(
        self, data: bytes, *, filename: str = "image.png", content_type: str = "image/png"
    ) -> AiutaImage:
        """Store product image bytes at Aiuta; the returned id goes into ``uploaded_image_ids``."""
        files = {"image_data": (filename, data, content_type)}
        image: AiutaImage = self._call("POST", "/uploaded_images", AiutaImage, files=files)
        return image

    def get_uploaded_image(self, image_id: str) -> AiutaImage:
        image: AiutaImage = self._call("GET", f"/uploaded_images/{_segment(image_id)}", AiutaImage)
        return image

    def delete_uploaded_image(self, image_id: str) -> None:
        self._call("DELETE", f"/uploaded_images/{_segment(image_id)}", None)

    def delete_generated_image(self, image_id: str) -> None:
        self._call("DELETE", f"/generated_images/{_segment(image_id)}", None)

    # Operations

    def create_on_figure_operation(self, request: GenerateOnFigureImagesRequest) -> str:
        return self._create("/on_figure_operations", request.to_api())

    def regenerate_on_figure_operation(self, request: RegenerateOnFigureImagesRequest) -> str:
        return self._create("/on_figure_operations/regenerate", request.to_api())

    def get_on_figure_operation(self, operation_id: str) -> OnFigureOperation:
        path = f"/on_figure_operations/{_segment(operation_id)}"
        answer: OnFigureOperation | None = self._call("GET", path, OnFigureOperation, nullable=True)
        operation = self._require(answer, operation_id)
        self._release_if_finished(operation_id, operation.status)
        return operation

    def create_flat_lay_operation(self, request: GenerateFlatLayImagesRequest) -> str:
        return self._create("/flat_lay_operations", request.to_api())

    def get_flat_lay_operation(self, operation_id: str) -> FlatLayOperation:
        path = f"/flat_lay_operations/{_segment(operation_id)}"
        answer: FlatLayOperation | None = self._call("GET", path, FlatLayOperation, nullable=True)
        operation = self._require(answer, operation_id)
        self._release_if_finished(operation_id, operation.status)
        return operation

    def list_model_presets(self) -> list[OnFigureModelPreset]:
        presets: list[OnFigureModelPreset] = self._call(
            "GET", "/on_figure_model_presets", list[OnFigureModelPreset]
        )
        return presets

    # Plumbing

    def _create(self, path: str, body: Mapping[str, Any]) -> str:
        """POSTs a create while holding an operation lease (when the account's capacity is shared),
        if the invocation has the time for it (``register_lambda_context``)."""
        send_by = self._create_deadline()
        if self._capacity is None:
            answer = self._call("POST", path, CreateOperationResponse, json=body, send_by=send_by)
            return str(answer.operation_id)
        # The lease and the turn are table calls of their own before the create leaves.
        self._refuse_late_create(send_by, before=TABLE_CALL_SECONDS)
        with self._capacity.operations.slot_for_create() as assign:
            answer = self._call(
                "POST", path, CreateOperationResponse, json=body, create=True, send_by=send_by
            )
            operation_id = str(answer.operation_id)
            assign(operation_id)
            return operation_id

    def _release_if_finished(self, operation_id: str, status: Any) -> None:
        if self._capacity is not None and str(getattr(status, "value", status)) in FINISHED_STATUSES:
            self._capacity.operations.release(operation_id)

    @staticmethod
    def _require(operation: ModelT | None, operation_id: str) -> ModelT:
        # Aiuta answers 200 with a JSON null for an id it does not know.
        if operation is None:
            raise AiutaNotFound(f"Aiuta has no operation {operation_id!r}", status_code=200)
        return operation

    def _call(
        self,
        method: str,
        path: str,
        answer_type: Any,
        *,
        json: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        nullable: bool = False,
        create: bool = False,
        send_by: float | None = None,
    ) -> Any:
        where = f"{method} {path}"
        if self._capacity is not None:
            self._capacity.requests.take(create=create, send_by=send_by)
        self._refuse_late_create(send_by)
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                json=json,
                files=files,
                timeout=self._timeout,
                allow_redirects=False,  # a redirect would take the key to whatever host it names
            )
        except requests.exceptions.RequestException as exc:
            raise _transport_error(where, method, exc) from None
        if response.is_redirect or 300 <= response.status_code < 400:
            raise _redirect_error(where, method, response)
        if response.status_code >= 400:
            raise _http_error(where, method, response)
        if answer_type is None:
            return None
        try:
            body = response.json()
        except ValueError:
            raise AiutaServerError(
                f"{where}: Aiuta answered {response.status_code} with a body that is not JSON",
                status_code=response.status_code,
            ) from None
        if body is None and nullable:
            return None
        try:
            return _validator(answer_type)(body)
        except ValidationError as exc:
            raise AiutaError(
                f"{where}: Aiuta's answer does not match the expected shape "
                f"({exc.error_count()} problems, first: {exc.errors()[0]['msg']})",
                status_code=response.status_code,
            ) from None


def _segment(value: str) -> str:
    """An id as one path segment; refuses ids that would change the path."""
    if not value or "/" in value or value in (".", ".."):
        raise ValueError(f"not a valid Aiuta id: {value!r}")
    return quote(value, safe="")


def _never_sent(exc: requests.exceptions.RequestException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _transport_error(where: str, method: str, exc: requests.exceptions.RequestException) -> AiutaError:
    kind = "timed out" if isinstance(exc, requests.exceptions.Timeout) else "lost the connection"
    if _never_sent(exc):
        return AiutaConnectionError(
            f"{where}: could not connect to Aiuta ({type(exc).__name__})", may_have_reached_server=False
        )
    if method == "POST":
        return AiutaOutcomeUnknown(
            f"{where}: {kind} after the request was sent; Aiuta may have acted on it, so it is not resent"
        )
    return AiutaConnectionError(f"{where}: {kind} ({type(exc).__name__})")


def _detail(response: requests.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:200]
    return detail if isinstance(detail, str) else str(detail)[:300]


def _http_error(where: str, method: str, response: requests.Response) -> AiutaError:
    status = response.status_code
    if status == 422:
        try:
            field_errors = [str(e) for e in HTTPValidationError.model_validate(response.json()).detail]
        except (ValueError, ValidationError):
            field_errors = [response.text[:300]]
        return AiutaRejectedRequest(
            f"{where}: Aiuta rejected the request: " + "; ".join(field_errors), field_errors=field_errors
        )
    if status in (401, 403):
        reason = "no API key was sent" if status == 401 else "the API key was refused"
        return AiutaAuthError(
            f"{where}: {reason} ({status})", status_code=status, may_have_reached_server=False
        )
    if status == 404:
        return AiutaNotFound(f"{where}: not found: {_detail(response)}", status_code=404)
    if status == 429:
        retry_after = _retry_after_seconds(response)
        advice = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        return AiutaRateLimited(f"{where}: rate limited by Aiuta{advice}", retry_after=retry_after)
    if status >= 500:
        # A failed POST may still have created something before the server broke.
        return AiutaServerError(
            f"{where}: Aiuta answered {status}: {_detail(response)}",
            status_code=status,
            may_have_reached_server=method == "POST",
        )
    return AiutaError(
        f"{where}: unexpected answer {status}: {_detail(response)}",
        status_code=status,
        may_have_reached_server=False,
    )


def _redirect_error(where: str, method: str, response: requests.Response) -> AiutaError:
    target = urlsplit(response.headers.get("Location", ""))
    elsewhere = f" to {target.scheme}://{target.hostname}" if target.hostname else ""
    return AiutaError(
        f"{where}: Aiuta answered {response.status_code}, a redirect{elsewhere}; it is not followed, "
        "so the API key is never sent to another host: check the AiutaApiUrl parameter",
        status_code=response.status_code,
        # A create answered with a redirect may have been acted on.
        may_have_reached_server=method == "POST",
    )


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
