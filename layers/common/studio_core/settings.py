"""Each function's settings, read once from the environment at cold start.

One loader (``from_env``) reads any settings model from the variables named in ``ENV_NAMES``.
Each function has a model that requires exactly what that function uses, so a missing or wrong
variable (``DEFAULT_KIND=onfigure``, no ``STATE_MACHINE_ARN``) stops the function at start-up
with the variable's name, not halfway through a job. Blank values (a template parameter left
empty) mean the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from studio_core.aiuta.models import DEFAULT_BASE_URL
from studio_core.domain.jobs import JobDefaults
from studio_core.domain.polling import PollSettings

SettingsT = TypeVar("SettingsT", bound=BaseModel)


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorageSettings(_Settings):
    """The bucket and the jobs table: every function reads or writes both."""

    studio_bucket: str = Field(min_length=1)
    jobs_table: str = Field(min_length=1)


class CapacitySettings(_Settings):
    """The pipeline's share of the Aiuta account, shared by every function through the capacity
    table (template parameters ``AiutaRequestsPerSecond``, ``AiutaRequestBurst``,
    ``AiutaOperationsInFlight``). No table (tests, a bare ``sam local invoke``): no shared limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    capacity_table: str = ""
    aiuta_requests_per_second: float = Field(default=2, gt=0, le=1000)
    aiuta_request_burst: int = Field(default=2, ge=1, le=1000)
    aiuta_operations_in_flight: int = Field(default=10, ge=1, le=10000)
    # A Lambda sleeps for a turn at most this long (it holds its concurrency while it sleeps); a
    # longer wait is the state machine's, which holds nothing.
    capacity_wait_in_lambda_seconds: float = Field(default=1, ge=0, le=60)


class CapacityWaitSettings(_Settings):
    """The task "Plan the wait for capacity": the job's deadlines, and the longest wait between tries."""

    capacity_wait_max_seconds: int = Field(default=60, ge=1, le=3600)
    poll: PollSettings = Field(default_factory=PollSettings)
    capacity: CapacitySettings = Field(default_factory=CapacitySettings)


class AiutaSettings(_Settings):
    aiuta_api_url: str = DEFAULT_BASE_URL
    aiuta_api_key_secret: str = Field(min_length=1)
    # GET/DELETE retries inside one Lambda call; the state machine's Retry covers longer outages.
    aiuta_retry_attempts: int = Field(default=3, ge=0, le=10)
    aiuta_retry_backoff_factor: float = Field(default=0.5, ge=0)
    capacity: CapacitySettings = Field(default_factory=CapacitySettings)


class BudgetSettings(_Settings):
    """The image budget (``domain.budget``): template parameters ``ImagesPerDayLimit`` and
    ``ImagesPerCatalogueLimit``; 0 means no limit."""

    images_per_day_limit: int = Field(default=2000, ge=0)
    images_per_catalogue_limit: int = Field(default=1000, ge=0)


class IngestSettings(StorageSettings):
    state_machine_arn: str = Field(min_length=1)
    ingest_queue_url: str = Field(min_length=1)
    catalogue_state_machine_arn: str = Field(min_length=1)
    # A catalogue runs at most this many jobs at once: the operations in flight the pipeline may have.
    catalogue_concurrency: int = Field(default=10, ge=1, le=10000)
    inbox_quiet_seconds: int = Field(default=60, ge=0)
    # On-demand regeneration rounds a job may have, whatever its own max_rounds says.
    max_regeneration_rounds: int = Field(default=5, ge=0, le=20)
    defaults: JobDefaults = Field(default_factory=JobDefaults)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    # A late approval (a decision for a job that has ended) is published by ingest itself.
    event_bus_name: str = ""
    published_base_url: str = ""


class CatalogueSettings(StorageSettings):
    """The catalogue state machine's tasks: each row becomes a job file with the template's defaults."""

    defaults: JobDefaults = Field(default_factory=JobDefaults)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    event_bus_name: str = ""  # empty: no catalogue events (see aws/events.py)


class SubmitSettings(StorageSettings, AiutaSettings):
    idempotency_table: str = Field(min_length=1)
    presigned_url_ttl_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    poll: PollSettings = Field(default_factory=PollSettings)


class CheckStatusSettings(StorageSettings, AiutaSettings):
    poll: PollSettings = Field(default_factory=PollSettings)


class FinalizeSettings(StorageSettings, AiutaSettings):
    delete_at_aiuta_after_copy: bool = False
    # How long a job with review: required waits for a decision (the "Wait for review" task's timeout).
    review_deadline_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=28 * 24 * 3600)
    event_bus_name: str = ""  # empty: no job events (see aws/events.py)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)  # automatic regeneration rounds


class RegenerateSettings(StorageSettings, AiutaSettings):
    idempotency_table: str = Field(min_length=1)
    poll: PollSettings = Field(default_factory=PollSettings)
    # A review's new operations are given the job's inputs as submit gave them (presigned URLs).
    presigned_url_ttl_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)


class ReviewSettings(StorageSettings, AiutaSettings):
    """The review's tasks (``steps.review``): publishing, the feed's links, the job's end."""

    event_bus_name: str = ""
    published_base_url: str = ""  # e.g. https://d111111abcdef8.cloudfront.net (no trailing slash)
    delete_at_aiuta_after_copy: bool = False


class RecordFailureSettings(StorageSettings):
    event_bus_name: str = ""


# field -> environment variable, per model; a field whose type has names of its own is nested.
_STORAGE = {"studio_bucket": "STUDIO_BUCKET", "jobs_table": "JOBS_TABLE"}
_AIUTA = {
    "aiuta_api_url": "AIUTA_API_URL",
    "aiuta_api_key_secret": "AIUTA_API_KEY_SECRET",
    "aiuta_retry_attempts": "AIUTA_RETRY_ATTEMPTS",
    "aiuta_retry_backoff_factor": "AIUTA_RETRY_BACKOFF_FACTOR",
}
_IDEMPOTENCY = {"idempotency_table": "IDEMPOTENCY_TABLE"}
ENV_NAMES: dict[type[BaseModel], dict[str, str]] = {
    JobDefaults: {
        "kind": "DEFAULT_KIND",
        "on_figure_image_types": "DEFAULT_ON_FIGURE_IMAGE_TYPES",
        "flat_lay_image_types": "DEFAULT_FLAT_LAY_IMAGE_TYPES",
        "operation_priority": "DEFAULT_OPERATION_PRIORITY",
        "number_of_generations": "DEFAULT_NUMBER_OF_GENERATIONS",
        "input_mode": "DEFAULT_INPUT_MODE",
        "model_gender": "DEFAULT_MODEL_GENDER",
        "delete_at_aiuta_after_copy": "DELETE_AT_AIUTA_AFTER_COPY",
        "review": "DEFAULT_REVIEW",
    },
    PollSettings: {
        "first_wait_online_seconds": "POLL_FIRST_WAIT_ONLINE_SECONDS",
        "first_wait_offline_seconds": "POLL_FIRST_WAIT_OFFLINE_SECONDS",
        "min_wait_seconds": "POLL_MIN_WAIT_SECONDS",
        "max_wait_seconds": "POLL_MAX_WAIT_SECONDS",
        "backoff_factor": "POLL_BACKOFF_FACTOR",
        "deadline_online_seconds": "JOB_DEADLINE_ONLINE_SECONDS",
        "deadline_offline_seconds": "JOB_DEADLINE_OFFLINE_SECONDS",
    },
    StorageSettings: _STORAGE,
    CapacitySettings: {
        "capacity_table": "CAPACITY_TABLE",
        "aiuta_requests_per_second": "AIUTA_REQUESTS_PER_SECOND",
        "aiuta_request_burst": "AIUTA_REQUEST_BURST",
        "aiuta_operations_in_flight": "AIUTA_OPERATIONS_IN_FLIGHT",
    },
    CapacityWaitSettings: {"capacity_wait_max_seconds": "CAPACITY_WAIT_MAX_SECONDS"},
    BudgetSettings: {
        "images_per_day_limit": "IMAGES_PER_DAY_LIMIT",
        "images_per_catalogue_limit": "IMAGES_PER_CATALOGUE_LIMIT",
    },
    CatalogueSettings: {**_STORAGE, "event_bus_name": "EVENT_BUS_NAME"},
    AiutaSettings: _AIUTA,
    IngestSettings: {
        **_STORAGE,
        "state_machine_arn": "STATE_MACHINE_ARN",
        "ingest_queue_url": "INGEST_QUEUE_URL",
        "catalogue_state_machine_arn": "CATALOGUE_STATE_MACHINE_ARN",
        "catalogue_concurrency": "AIUTA_OPERATIONS_IN_FLIGHT",
        "inbox_quiet_seconds": "INBOX_QUIET_SECONDS",
        "max_regeneration_rounds": "MAX_REGENERATION_ROUNDS",
        "event_bus_name": "EVENT_BUS_NAME",
        "published_base_url": "PUBLISHED_BASE_URL",
    },
    SubmitSettings: {
        **_STORAGE,
        **_AIUTA,
        **_IDEMPOTENCY,
        "presigned_url_ttl_seconds": "PRESIGNED_URL_TTL_SECONDS",
    },
    CheckStatusSettings: {**_STORAGE, **_AIUTA},
    FinalizeSettings: {
        **_STORAGE,
        **_AIUTA,
        "delete_at_aiuta_after_copy": "DELETE_AT_AIUTA_AFTER_COPY",
        "event_bus_name": "EVENT_BUS_NAME",
        "review_deadline_seconds": "REVIEW_DEADLINE_SECONDS",
    },
    RegenerateSettings: {
        **_STORAGE,
        **_AIUTA,
        **_IDEMPOTENCY,
        "presigned_url_ttl_seconds": "PRESIGNED_URL_TTL_SECONDS",
    },
    ReviewSettings: {
        **_STORAGE,
        **_AIUTA,
        "event_bus_name": "EVENT_BUS_NAME",
        "published_base_url": "PUBLISHED_BASE_URL",
        "delete_at_aiuta_after_copy": "DELETE_AT_AIUTA_AFTER_COPY",
    },
    RecordFailureSettings: {**_STORAGE, "event_bus_name": "EVENT_BUS_NAME"},
}


def from_env(model: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    """``model`` from the environment; a problem raises ``RuntimeError`` naming each variable."""
    environ = os.environ if environ is None else environ
    names = ENV_NAMES[model]
    values: dict[str, Any] = {f: environ[n] for f, n in names.items() if environ.get(n, "") != ""}
    problems: list[str] = []
    for field, info in model.model_fields.items():
        nested = info.annotation
        if isinstance(nested, type) and nested in ENV_NAMES and field not in names:
            try:
                values[field] = from_env(nested, environ)
            except _SettingsError as exc:
                problems.extend(exc.problems)
    try:
        settings = model.model_validate(values)
    except ValidationError as exc:
        problems.extend(
            f"{names.get(str(e['loc'][0]), e['loc'][0])}: {_message(e)}" if e["loc"] else _message(e)
            for e in exc.errors()
        )
    if problems:
        raise _SettingsError(problems)
    return settings


def variables(model: type[BaseModel]) -> set[str]:
    """Every environment variable ``model`` reads, its nested settings' included."""
    names = set(ENV_NAMES[model].values())
    for field, info in model.model_fields.items():
        nested = info.annotation
        if isinstance(nested, type) and nested in ENV_NAMES and field not in ENV_NAMES[model]:
            names |= variables(nested)
    return names


class _SettingsError(RuntimeError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings in the environment: " + "; ".join(problems))
        self.problems = problems


def _message(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    return "is not set" if error["type"] == "missing" else message
