"""Where each Lambda gets its settings and its adapters, built once per cold start.

``Environment`` validates the variables the template sets, so a missing one fails at start-up
with its name rather than halfway through a job. The factories are cached like the cookbook's
``get_dal_handler()``; tests call ``reset_clients()`` between cases.
"""

from __future__ import annotations

import json
import os
from functools import cache

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, ValidationError

from studio_core.aiuta.client import DEFAULT_BASE_URL, AiutaStudioClient, RetryPolicy
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage


class Environment(BaseModel):
    studio_bucket: str
    jobs_table: str
    idempotency_table: str | None = None
    aiuta_api_url: str = DEFAULT_BASE_URL
    aiuta_api_key_secret: str | None = None
    state_machine_arn: str | None = None
    ingest_queue_url: str | None = None
    presigned_url_ttl_seconds: int = 900
    inbox_quiet_seconds: int = 60
    # GET/DELETE retries inside one Lambda call; the state machine's Retry covers longer outages.
    aiuta_retry_attempts: int = 3
    aiuta_retry_backoff_factor: float = 0.5

    @classmethod
    def from_env(cls) -> Environment:
        values = {name: os.environ[name.upper()] for name in cls.model_fields if name.upper() in os.environ}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = ", ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
            raise RuntimeError(f"Lambda environment is incomplete: {problems}") from None


@cache
def environment() -> Environment:
    return Environment.from_env()


@cache
def storage() -> Storage:
    return Storage(environment().studio_bucket)


@cache
def jobs_table() -> JobsTable:
    return JobsTable(environment().jobs_table)


def read_api_key(secret_name: str) -> str:
    """The Aiuta key from Secrets Manager: either the plain secret string or ``{"api_key": ...}``."""
    secret = parameters.get_secret(secret_name, max_age=300)
    if not isinstance(secret, str):
        secret = secret.decode() if isinstance(secret, bytes) else str(secret)
    try:
        document = json.loads(secret)
    except ValueError:
        return secret.strip()
    if isinstance(document, dict) and document.get("api_key"):
        return str(document["api_key"])
    raise RuntimeError(f"secret {secret_name} holds JSON without an 'api_key' field")


@cache
def aiuta_client() -> AiutaStudioClient:
    env = environment()
    if not env.aiuta_api_key_secret:
        raise RuntimeError("AIUTA_API_KEY_SECRET is not set: the Aiuta key must come from Secrets Manager")
    retry = RetryPolicy(attempts=env.aiuta_retry_attempts, backoff_factor=env.aiuta_retry_backoff_factor)
    return AiutaStudioClient(read_api_key(env.aiuta_api_key_secret), env.aiuta_api_url, retry=retry)


def reset_clients() -> None:
    """Forget cached settings and adapters (tests change the environment between cases)."""
    for factory in (environment, storage, jobs_table, aiuta_client):
        factory.cache_clear()
    parameters.clear_caches()
