"""Each function's settings, read once from the environment at cold start by pydantic-settings.

A field is named for its variable (``studio_bucket`` is ``STUDIO_BUCKET``). The two domain
models a template configures, ``JobDefaults`` and ``PollSettings``, keep their own field names and
are read from ``DEFAULT_<FIELD>`` and ``POLL_<FIELD>``, with the exceptions their readers
name. Each function has a model that requires exactly what that function uses, so a missing or
wrong variable (``DEFAULT_KIND=onfigure``, no ``STATE_MACHINE_ARN``) stops the function at start-up
with the variable's name, not halfway through a job. Blank values (a template parameter left
empty) mean the default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, ClassVar, TypeVar, cast

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from studio_core.aiuta.requests import DEFAULT_BASE_URL
from studio_core.domain.jobs import JobDefaults
from studio_core.domain.polling import PollSettings
from studio_core.domain.urls import api_url_problem

ModelT = TypeVar("ModelT", bound=BaseModel)

# What ``from_env(model, environ)`` reads instead of the process environment, for that call.
_GIVEN: ContextVar[Mapping[str, str] | None] = ContextVar("studio_settings_given", default=None)


class _Settings(BaseSettings):
    """Read from the environment variable named for each field, in capitals."""

    model_config = SettingsConfigDict(
        alias_generator=str.upper,
        populate_by_name=True,  # code and tests may build one by field name
        env_ignore_empty=True,
        enable_decoding=False,  # a list is written as text (DEFAULT_KIND=both); validators parse it
        extra="forbid",
        frozen=True,
        defer_build=True,  # a function reads one of these; the others are never built
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The process environment (no .env file, no secrets directory), or what from_env was given.
        given = _GIVEN.get()
        if given is None:
            return init_settings, env_settings
        names = {field.alias for field in settings_cls.model_fields.values()}
        values = {name: value for name, value in given.items() if name in names and value != ""}
        return init_settings, InitSettingsSource(settings_cls, values)


def _read(model: type[ModelT]) -> Callable[[], ModelT]:
    """A field's default: ``model`` read from its own variables (when the whole settings are)."""
    return lambda: from_env(model)


def _named(prefix: str, **exceptions: str) -> Callable[[str], str]:
    return lambda field: exceptions.get(field, prefix + field.upper())


class _JobDefaultsFromEnv(_Settings, JobDefaults):
    # Whether to delete at Aiuta is finalize's setting too, hence no DEFAULT_ prefix.
    model_config = SettingsConfigDict(
        alias_generator=_named("DEFAULT_", delete_at_aiuta_after_copy="DELETE_AT_AIUTA_AFTER_COPY"),
        populate_by_name=False,
    )


class _PollSettingsFromEnv(_Settings, PollSettings):
    # The deadlines are the job's (the capacity wait ends at them too), hence JOB_DEADLINE_*; the
    # prior and the tail factor keep the names deployed stacks set (the fields were renamed since).
    model_config = SettingsConfigDict(
        alias_generator=_named(
            "POLL_",
            expected_online_seconds="POLL_FIRST_WAIT_ONLINE_SECONDS",
            expected_offline_seconds="POLL_FIRST_WAIT_OFFLINE_SECONDS",
            tail_factor="POLL_BACKOFF_FACTOR",
            deadline_online_seconds="JOB_DEADLINE_ONLINE_SECONDS",
            deadline_offline_seconds="JOB_DEADLINE_OFFLINE_SECONDS",
        ),
        populate_by_name=False,
    )


_READERS: dict[type[BaseModel], type[_Settings]] = {
    JobDefaults: _JobDefaultsFromEnv,
    PollSettings: _PollSettingsFromEnv,
}


class StorageSettings(_Settings):
    """The bucket and the jobs table: every function reads or writes both."""

    studio_bucket: str = Field(min_length=1)
    jobs_table: str = Field(min_length=1)


class CapacitySettings(_Settings):
    """The pipeline's share of the Aiuta account, shared by every function through the capacity
    table (template parameters ``AiutaRequestsPerSecond``, ``AiutaRequestBurst``,
    ``AiutaOperationsInFlight``). No table (tests, a bare ``sam local invoke``): no shared limits."""

    capacity_table: str = ""
    aiuta_requests_per_second: float = Field(default=2, gt=0, le=1000)
    aiuta_request_burst: int = Field(default=2, ge=1, le=1000)
    aiuta_operations_in_flight: int = Field(default=10, ge=1, le=10000)
    # A Lambda sleeps for a turn at most this long (it holds its concurrency while it sleeps); a
    # longer wait is the state machine's, which holds nothing. A constant, not a variable.
    capacity_wait_in_lambda_seconds: ClassVar[float] = 1


class CapacityWaitSettings(_Settings):
    """The task "Plan the wait for capacity": the job's deadlines, and the longest wait between tries."""

    capacity_wait_max_seconds: int = Field(default=60, ge=1, le=3600)
    poll: PollSettings = Field(default_factory=_read(PollSettings))
    capacity: CapacitySettings = Field(default_factory=_read(CapacitySettings))


class AiutaSettings(_Settings):
    aiuta_api_url: str = DEFAULT_BASE_URL
    aiuta_api_key_secret: str = Field(min_length=1)
    # GET/DELETE retries inside one Lambda call; the state machine's Retry covers longer outages.
    aiuta_retry_attempts: int = Field(default=3, ge=0, le=10)
    aiuta_retry_backoff_factor: float = Field(default=0.5, ge=0)
    capacity: CapacitySettings = Field(default_factory=_read(CapacitySettings))
    # Only the local stack sets it: the API may then be http on 127.0.0.1 (the simulator), and
    # finalize may copy images from there. On AWS nothing of ours listens on loopback.
    allow_loopback_urls: bool = False

    @model_validator(mode="after")
    def _key_stays_on_https(self) -> AiutaSettings:
        problem = api_url_problem(self.aiuta_api_url, allow_loopback_http=self.allow_loopback_urls)
        if problem:
            raise ValueError(f"AIUTA_API_URL: {problem}")
        return self


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
    aiuta_operations_in_flight: int = Field(default=10, ge=1, le=10000)
    inbox_quiet_seconds: int = Field(default=60, ge=0)
    # On-demand regeneration rounds a job may have, whatever its own max_rounds says.
    max_regeneration_rounds: int = Field(default=5, ge=0, le=20)
    defaults: JobDefaults = Field(default_factory=_read(JobDefaults))
    budget: BudgetSettings = Field(default_factory=_read(BudgetSettings))
    # A job's image_urls may name loopback or private hosts: a test's local image host only.
    allow_private_image_urls: bool = False
    # A late approval (a decision for a job that has ended) is published by ingest itself.
    event_bus_name: str = ""
    # A new job that would only be told to wait behind the creates waiting has its wait planned here.
    capacity_wait: CapacityWaitSettings = Field(default_factory=_read(CapacityWaitSettings))
    published_base_url: str = ""


class CatalogueSettings(StorageSettings):
    """The catalogue state machine's tasks: each row becomes a job file with the template's defaults."""

    defaults: JobDefaults = Field(default_factory=_read(JobDefaults))
    budget: BudgetSettings = Field(default_factory=_read(BudgetSettings))
    event_bus_name: str = ""  # empty: no catalogue events (see aws/events.py)
    allow_private_image_urls: bool = False


class SubmitSettings(StorageSettings, AiutaSettings):
    idempotency_table: str = Field(min_length=1)
    # Signed with the role's temporary credentials: never valid longer than they are (about 12 h).
    presigned_url_ttl_seconds: int = Field(default=900, ge=60, le=12 * 3600)
    poll: PollSettings = Field(default_factory=_read(PollSettings))


class CheckStatusSettings(StorageSettings, AiutaSettings):
    poll: PollSettings = Field(default_factory=_read(PollSettings))
    # Checks across waits shorter than the loop's break-even happen in one invocation, asleep at
    # most this long in it (``domain.check_loop``; template PollInLambdaSeconds); 0: never.
    poll_in_lambda_seconds: int = Field(default=40, ge=0, le=600)


class FinalizeSettings(StorageSettings, AiutaSettings):
    delete_at_aiuta_after_copy: bool = False
    # How long a job with review: required waits for a decision (the "Wait for review" task's timeout).
    review_deadline_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=28 * 24 * 3600)
    event_bus_name: str = ""  # empty: no job events (see aws/events.py)
    budget: BudgetSettings = Field(default_factory=_read(BudgetSettings))  # automatic regeneration rounds
    # One generated image: at most this large, and fetched within this time (a 40 MiB image at a
    # slow 1 MB/s takes 42 s); past either the copy stops and stores nothing.
    result_image_max_megabytes: int = Field(default=40, ge=1, le=500)
    result_image_copy_seconds: int = Field(default=120, ge=5, le=280)


class RegenerateSettings(StorageSettings, AiutaSettings):
    idempotency_table: str = Field(min_length=1)
    poll: PollSettings = Field(default_factory=_read(PollSettings))
    # A review's new operations are given the job's inputs as submit gave them (presigned URLs).
    presigned_url_ttl_seconds: int = Field(default=900, ge=60, le=12 * 3600)


class ReviewSettings(StorageSettings, AiutaSettings):
    """The review's tasks (``steps.review``): publishing, the feed's links, the job's end."""

    event_bus_name: str = ""
    published_base_url: str = ""  # e.g. https://d111111abcdef8.cloudfront.net (no trailing slash)
    delete_at_aiuta_after_copy: bool = False


class RecordFailureSettings(StorageSettings):
    event_bus_name: str = ""


def from_env(model: type[ModelT], environ: Mapping[str, str] | None = None) -> ModelT:
    """``model`` read from the environment (or from ``environ`` instead); a problem raises
    ``RuntimeError`` naming each variable."""
    reader = _READERS.get(model, model)
    given = _GIVEN.set(environ) if environ is not None else None
    try:
        settings = reader()
    except ValidationError as exc:
        raise _SettingsError([_problem(error) for error in exc.errors()]) from None
    finally:
        if given is not None:
            _GIVEN.reset(given)
    if reader is model:
        return cast(ModelT, settings)
    # A domain model comes back as itself: its reader is a subclass that knows the variables.
    return model.model_validate(dict(settings))


def variables(model: type[BaseModel]) -> set[str]:
    """Every environment variable ``model`` reads, its groups' (``poll``, ``capacity``...) included."""
    names: set[str] = set()
    for field in _READERS.get(model, model).model_fields.values():
        group = field.annotation
        if isinstance(group, type) and (group in _READERS or issubclass(group, _Settings)):
            names |= variables(group)
        elif field.alias:
            names.add(field.alias)
    return names


class _SettingsError(RuntimeError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings in the environment: " + "; ".join(problems))


def _problem(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    message = "is not set" if error["type"] == "missing" else message
    return f"{error['loc'][0]}: {message}" if error["loc"] else message
