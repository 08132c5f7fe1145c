"""Aiuta operations as the steps use them: read one by its kind, create one at most once.

Exactly one paid operation per job, kind and round: each create is wrapped in Powertools
Idempotency (DynamoDB) keyed on ``<job_id>#<kind>#<round>``, so a retried Lambda (or a
redelivered event) gets the operation id recorded the first time instead of creating a second.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.models import (
    FlatLayOperation,
    GenerateFlatLayImagesRequest,
    GenerateOnFigureImagesRequest,
    OnFigureOperation,
    RegenerateOnFigureImagesRequest,
)
from studio_core.domain.errors import AiutaOutcomeUnknown, AiutaServerError
from studio_core.domain.state import OperationRef
from studio_core.domain.vocabulary import Kind

REGENERATE = "regenerate"
# Statuses after which Aiuta surely did nothing; anything else on a create is "outcome unknown".
SAFE_TO_RESEND_STATUSES = frozenset({502, 503})

# create(idempotency key, {"action": on_figure | flat_lay | regenerate, "request": <API body>}) -> id
Creator = Callable[[str, dict[str, Any]], str]

# The in-progress record deliberately outlives the Lambda (no register_lambda_context): if a create
# is cut off mid-call, a retry fails with IdempotencyAlreadyInProgressError instead of paying twice.
warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")


def fetch_operation(client: AiutaStudioClient, op: OperationRef) -> OnFigureOperation | FlatLayOperation:
    if op.kind is Kind.ON_FIGURE:
        return client.get_on_figure_operation(op.operation_id)
    return client.get_flat_lay_operation(op.operation_id)


def idempotent_creator(table_name: str, create: Callable[[str, dict[str, Any]], str]) -> Creator:
    """Wraps ``create(action, request)`` so each idempotency key reaches Aiuta at most once."""
    persistence = DynamoDBPersistenceLayer(table_name=table_name)
    config = IdempotencyConfig(event_key_jmespath="key", expires_after_seconds=7 * 24 * 3600)

    @idempotent_function(data_keyword_argument="order", persistence_store=persistence, config=config)
    def create_once(order: dict[str, Any]) -> dict[str, str]:
        return {"operation_id": create(order["action"], order["request"])}

    def run(key: str, order: dict[str, Any]) -> str:
        return str(create_once(order={"key": key, **order})["operation_id"])

    return run


def operation_creator(idempotency_table: str, client: Callable[[], AiutaStudioClient]) -> Creator:
    """The once-per-key create that the submit and regenerate tasks share."""
    return idempotent_creator(
        idempotency_table, lambda action, request: create_operation(client(), action, request)
    )


def create_operation(client: AiutaStudioClient, action: str, request: dict[str, Any]) -> str:
    """POSTs one create (``on_figure``, ``flat_lay`` or ``regenerate``).

    A 5xx other than 502/503 may have created the operation anyway, so it becomes
    ``AiutaOutcomeUnknown``, which the workflow records instead of retrying.
    """
    try:
        if action == Kind.ON_FIGURE:
            return client.create_on_figure_operation(GenerateOnFigureImagesRequest.model_validate(request))
        if action == Kind.FLAT_LAY:
            return client.create_flat_lay_operation(GenerateFlatLayImagesRequest.model_validate(request))
        return client.regenerate_on_figure_operation(RegenerateOnFigureImagesRequest.model_validate(request))
    except AiutaServerError as exc:
        if exc.status_code in SAFE_TO_RESEND_STATUSES:
            raise
        raise AiutaOutcomeUnknown(
            f"{exc} - Aiuta may have created the {action} operation anyway, so it is not sent again; "
            "drop the product again to start a new job",
        ) from None
