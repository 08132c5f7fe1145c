"""Aiuta operations as the steps use them: read one by its kind, create one at most once.

Exactly one paid operation per job, kind and round: each create is wrapped in Powertools
Idempotency (DynamoDB) keyed on ``<job_id>#<kind>#<round>``, so a retried Lambda (or a
redelivered event) gets the operation id recorded the first time instead of creating a second.

The resend policy of a create (``POST /on_figure_operations``, ``/flat_lay_operations``,
``/on_figure_operations/regenerate``):

- **sent again** (the error is retryable, the state machine's Retry sends it again): a 429, and
  a connection that failed before the request left (refused, connect timeout). Aiuta did
  nothing with those.
- **never sent again** (``AiutaOutcomeUnknown``): every 5xx, and a connection lost or timed out
  after the request was sent. A gateway can answer 502, 503 or 504 after the backend created
  the operation, and Aiuta's API has no way to find an operation by our request (no list, no
  client token), so a second POST could start a second paid operation. The kind fails with that
  reason; the job's other operations go on (a PARTIAL job), or the job fails.
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

from studio_core.aiuta.answers import FlatLayOperation, OnFigureOperation
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.requests import (
    GenerateFlatLayImagesRequest,
    GenerateOnFigureImagesRequest,
    RegenerateOnFigureImagesRequest,
)
from studio_core.domain.errors import AiutaOutcomeUnknown, AiutaServerError
from studio_core.domain.state import OperationRef
from studio_core.domain.vocabulary import Kind

REGENERATE = "regenerate"

# create(idempotency key, {"action": on_figure | flat_lay | regenerate, "request": <API body>}) -> id
Creator = Callable[[str, dict[str, Any]], str]

# The in-progress record deliberately outlives the Lambda (no register_lambda_context): if a create
# is cut off mid-call, a retry fails with IdempotencyAlreadyInProgressError instead of paying twice.
warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")


def fetch_operation(client: AiutaStudioClient, op: OperationRef) -> OnFigureOperation | FlatLayOperation:
    if op.operation_id is None:
        raise ValueError(f"the {op.kind.value} operation of round {op.round} was never created")
    if op.kind is Kind.ON_FIGURE:
        return client.get_on_figure_operation(op.operation_id)
    return client.get_flat_lay_operation(op.operation_id)


def idempotent_creator(table_name: str, create: Callable[[str, dict[str, Any]], str]) -> Creator:
    """Wraps ``create(action, request)`` so each idempotency key reaches Aiuta at most once."""
    persistence = DynamoDBPersistenceLayer(table_name=table_name)
    config = IdempotencyConfig(event_key_jmespath="key", expires_after_seconds=7 * 24 * 3600)

    @idempotent_function(data_keyword_argument="order", persistence_store=persistence, config=config)  # type: ignore[untyped-decorator]
    def create_once(order: dict[str, Any]) -> dict[str, str | None]:
        try:
            return {"operation_id": create(order["action"], order["request"])}
        except AiutaOutcomeUnknown as exc:
            # Kept as this key's result, so a retried task gets the same answer instead of a resend.
            return {"operation_id": None, "outcome_unknown": str(exc)}

    def run(key: str, order: dict[str, Any]) -> str:
        result = create_once(order={"key": key, **order})
        if result.get("operation_id") is None:
            raise AiutaOutcomeUnknown(str(result.get("outcome_unknown") or "the create was not confirmed"))
        return str(result["operation_id"])

    return run


def operation_creator(idempotency_table: str, client: Callable[[], AiutaStudioClient]) -> Creator:
    """The once-per-key create that the submit and regenerate tasks share."""
    return idempotent_creator(
        idempotency_table, lambda action, request: create_operation(client(), action, request)
    )


def create_operation(client: AiutaStudioClient, action: str, request: dict[str, Any]) -> str:
    """POSTs one create (``on_figure``, ``flat_lay`` or ``regenerate``).

    Any 5xx may have created the operation anyway, so it becomes ``AiutaOutcomeUnknown``, which
    the workflow records instead of retrying (see the policy above).
    """
    try:
        if action == Kind.ON_FIGURE:
            return client.create_on_figure_operation(GenerateOnFigureImagesRequest.model_validate(request))
        if action == Kind.FLAT_LAY:
            return client.create_flat_lay_operation(GenerateFlatLayImagesRequest.model_validate(request))
        return client.regenerate_on_figure_operation(RegenerateOnFigureImagesRequest.model_validate(request))
    except AiutaServerError as exc:
        raise AiutaOutcomeUnknown(
            f"{exc} - Aiuta may have created the {action} operation anyway, so it is not sent again",
            status_code=exc.status_code,
        ) from None
