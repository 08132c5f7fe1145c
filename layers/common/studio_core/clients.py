"""The adapters each Lambda uses, built once per cold start from its settings.

The factories are cached like the cookbook's ``get_dal_handler()``; tests call
``reset_clients()`` between cases.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from studio_core.settings import (
    AiutaSettings,
    CapacitySettings,
    CapacityWaitSettings,
    StorageSettings,
    from_env,
)

# Each adapter's module is loaded by the factory that builds it: a function loads only the adapters
# it uses (ingest and record failure never need requests or the secret; of the capacity table,
# ingest only reads the backlog and takes waiting-room turns).
if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from studio_core.aiuta.client import AiutaStudioClient
    from studio_core.aws.budget import ImageBudget
    from studio_core.aws.capacity import AccountCapacity
    from studio_core.aws.duration_estimates import DurationEstimates
    from studio_core.aws.events import JobEvents
    from studio_core.aws.executions import Executions
    from studio_core.aws.jobs_table import JobsTable
    from studio_core.aws.operation_answers import OperationAnswers
    from studio_core.aws.publishing import PublishedFeed
    from studio_core.aws.storage import Storage
    from studio_core.aws.waiting_room import WaitingRoom


@cache
def _dynamodb() -> Any:
    """One DynamoDB resource for every table adapter of the process: each resource builds its own
    client and resource classes (about 5 ms each after the first)."""
    return boto3.resource("dynamodb")


@cache
def _secrets() -> SecretsProvider:
    """Secrets Manager through the process's default session: Powertools' default provider makes a
    session of its own, whose loader reads botocore's data files again (about 35 ms)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=boto3.client("secretsmanager"))


@cache
def storage(bucket: str | None = None) -> Storage:
    from studio_core.aws.storage import Storage

    return Storage(bucket or from_env(StorageSettings).studio_bucket)


@cache
def operation_answers(bucket: str | None = None) -> OperationAnswers:
    """The answers status checks keep for the copy, in the studio bucket (its client made on first use)."""
    from studio_core.aws.operation_answers import OperationAnswers

    return OperationAnswers(lambda: storage(bucket))


@cache
def jobs_table(table_name: str | None = None) -> JobsTable:
    from studio_core.aws.jobs_table import JobsTable

    return JobsTable(table_name or from_env(StorageSettings).jobs_table, _dynamodb())


@cache
def published_feed(table_name: str) -> PublishedFeed:
    """The published images' feed, kept in the jobs table."""
    from studio_core.aws.publishing import PublishedFeed

    return PublishedFeed(table_name, _dynamodb())


@cache
def _step_functions() -> Any:
    from studio_core.aws.executions import START_RETRIES

    return boto3.client("stepfunctions", config=START_RETRIES)


def executions(state_machine_arn: str) -> Executions:
    """Starts the executions of one state machine (one Step Functions client for all of them)."""
    from studio_core.aws.executions import Executions

    return Executions(state_machine_arn, _step_functions())


@cache
def duration_estimates(table_name: str | None = None) -> DurationEstimates:
    """The learned operation durations, kept in the jobs table."""
    from studio_core.aws.duration_estimates import DurationEstimates

    return DurationEstimates(table_name or from_env(StorageSettings).jobs_table, _dynamodb())


@cache
def image_budget(table_name: str, images_per_day: int) -> ImageBudget:
    """The day's image budget, kept in the jobs table (a limit of 0: no budget)."""
    from studio_core.aws.budget import ImageBudget

    return ImageBudget(table_name, images_per_day, _dynamodb())


@cache
def job_events(bus_name: str) -> JobEvents:
    """The job events of this function's bus (none are put when the name is empty)."""
    from studio_core.aws.events import JobEvents

    return JobEvents(bus_name)


def read_api_key(secret_name: str) -> str:
    """The Aiuta key from Secrets Manager: either the plain secret string or ``{"api_key": ...}``."""
    secret = _secrets().get(secret_name, max_age=300)
    if not isinstance(secret, str):
        secret = secret.decode() if isinstance(secret, bytes) else str(secret)
    try:
        document = json.loads(secret)
    except ValueError:
        return secret.strip()
    if isinstance(document, dict) and document.get("api_key"):
        return str(document["api_key"])
    raise RuntimeError(f"secret {secret_name} holds JSON without an 'api_key' field")


# The capacity table's calls: a few seconds at most (DynamoDB answers in milliseconds).
QUICK = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})


@cache
def _quick_dynamodb() -> Any:
    """The capacity table's client (``QUICK`` timeouts), shared by the budget, slots and waiting room."""
    return boto3.client("dynamodb", config=QUICK)


@cache
def account_capacity(settings: CapacitySettings) -> AccountCapacity | None:
    """The pipeline's share of the Aiuta account, shared through the capacity table (None without one).

    A lease nobody saw end (its execution was stopped) expires after the longest job deadline.
    """
    from studio_core.aws.capacity import AccountCapacity
    from studio_core.aws.operation_slots import OperationSlots
    from studio_core.aws.request_budget import RequestBudget
    from studio_core.domain.polling import PollSettings

    if not settings.capacity_table:
        return None
    poll = from_env(PollSettings)
    # Short timeouts: a table that does not answer is no capacity (the job waits), never a
    # Lambda held until its own timeout.
    dynamodb = _quick_dynamodb()
    return AccountCapacity(
        RequestBudget(
            settings.capacity_table,
            rate=settings.aiuta_requests_per_second,
            burst=settings.aiuta_request_burst,
            max_wait_seconds=settings.capacity_wait_in_lambda_seconds,
            client=dynamodb,
            counts=True,  # requests and creates: the waiting room's pace for new work
        ),
        OperationSlots(
            settings.capacity_table,
            limit=settings.aiuta_operations_in_flight,
            lease_seconds=max(poll.deadline_online_seconds, poll.deadline_offline_seconds) + 3600,
            client=dynamodb,
        ),
    )


@cache
def waiting_room(settings: CapacitySettings) -> WaitingRoom | None:
    """Turns for the jobs waiting for capacity, at the account's request rate (None without a table)."""
    if not settings.capacity_table:
        return None
    from studio_core.aws.waiting_room import WaitingRoom

    # A turn is worth a few seconds of a 10 s function, never all of them (the planner backs off
    # without one).
    return WaitingRoom(
        settings.capacity_table,
        rate=settings.aiuta_requests_per_second,
        client=_quick_dynamodb(),
    )


@cache
def _aiuta_client(
    url: str, secret: str, attempts: int, backoff_factor: float, capacity: CapacitySettings
) -> AiutaStudioClient:
    from studio_core.aiuta.client import AiutaStudioClient, RetryPolicy

    retry = RetryPolicy(attempts=attempts, backoff_factor=backoff_factor)
    return AiutaStudioClient(read_api_key(secret), url, retry=retry, capacity=account_capacity(capacity))


def aiuta_client(settings: AiutaSettings | None = None) -> AiutaStudioClient:
    """The Aiuta client of this function, within the account's shared capacity; the key is read
    from Secrets Manager on first use."""
    settings = settings or from_env(AiutaSettings)
    return _aiuta_client(
        settings.aiuta_api_url,
        settings.aiuta_api_key_secret,
        settings.aiuta_retry_attempts,
        settings.aiuta_retry_backoff_factor,
        settings.capacity,
    )


def rate_pressure(settings: AiutaSettings) -> Callable[[], float]:
    """How hard the account's request rate binds (0..1), from the creates waiting that this
    function's last request turn saw (``RequestBudget.rate_pressure``: no request of its own);
    0 without a capacity table."""
    capacity = account_capacity(settings.capacity)
    return capacity.requests.rate_pressure if capacity is not None else lambda: 0.0


def new_job_admission(settings: CapacityWaitSettings) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """Plans a new job's wait before its execution starts while creates wait for a request turn
    (``steps.capacity_wait.wait_behind_waiting_creates``); None without a capacity table."""
    capacity, room = account_capacity(settings.capacity), waiting_room(settings.capacity)
    if capacity is None or room is None:
        return None
    from functools import partial

    from studio_core.steps.capacity_wait import wait_behind_waiting_creates

    return partial(
        wait_behind_waiting_creates,
        creates_waiting=capacity.requests.read_creates_waiting,
        settings=settings,
        room=room,
    )


def creates_waiting(settings: AiutaSettings) -> Callable[[], float] | None:
    """Reads how many creates wait for a request turn (one read of the request budget's item);
    None without a capacity table."""
    capacity = account_capacity(settings.capacity)
    return capacity.requests.read_creates_waiting if capacity is not None else None


def reset_clients() -> None:
    """Forget cached adapters (tests change the environment between cases)."""
    for factory in (
        _dynamodb,
        _quick_dynamodb,
        _secrets,
        _step_functions,
        storage,
        operation_answers,
        jobs_table,
        published_feed,
        duration_estimates,
        job_events,
        account_capacity,
        waiting_room,
        _aiuta_client,
    ):
        factory.cache_clear()
