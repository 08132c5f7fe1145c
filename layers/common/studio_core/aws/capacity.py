"""The pipeline's share of one Aiuta account, shared by every Lambda through the capacity table.

Three items of the table (``CapacityTable`` in template.yaml, key ``pk``), one module each:

- ``pk = aiuta#requests``: the request budget (``aws.request_budget.RequestBudget``): every call
  to Aiuta takes a turn, so the pipeline stays within ``AiutaRequestsPerSecond``; the same
  update counts the requests and the creates (``requests_sent``, ``operations_created``).
- ``pk = aiuta#waiting-room#<queue>``: the turns of the jobs waiting for capacity
  (``aws.waiting_room.WaitingRoom``), so they come back at the pace Aiuta can take them (new
  work at the rate over the requests an operation costs, from those counts).
- ``pk = aiuta#operations``: the operations in flight (``aws.operation_slots.OperationSlots``),
  at most ``AiutaOperationsInFlight``.

This module holds their keys, what they share, and ``AccountCapacity``: the two limits of the
account that every Aiuta call goes through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from studio_core.aws.operation_slots import OperationSlots
    from studio_core.aws.request_budget import RequestBudget

REQUESTS_KEY = "aiuta#requests"
OPERATIONS_KEY = "aiuta#operations"
WAITING_ROOM_KEY = "aiuta#waiting-room"


def conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def aws_error(exc: BotoCoreError | ClientError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


class AccountCapacity:
    """What one Aiuta account allows the pipeline: its request budget and its operations in flight."""

    def __init__(self, requests: RequestBudget, operations: OperationSlots) -> None:
        self.requests = requests
        self.operations = operations
