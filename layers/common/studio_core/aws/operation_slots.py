"""The operations in flight: at most ``limit`` Aiuta operations, as leases in one item of the
capacity table (``pk = aiuta#operations``, ``holders`` = ``{lease: expiry}``).

A create takes a lease (conditional on fewer than ``limit`` leases) before it is sent, keyed by a
fresh id; once Aiuta answers, the lease is re-keyed by the operation id; it ends when a read shows
the operation finished (or on its expiry, for a lease nobody saw end). Set semantics make a
retried acquire or release harmless.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from studio_core.aws.capacity import OPERATIONS_KEY, aws_error, conditional_failure
from studio_core.domain.capacity import expired_leases
from studio_core.domain.errors import CapacityUnavailable

logger = logging.getLogger(__name__)


class OperationSlots:
    """At most ``limit`` Aiuta operations in flight, as leases in one DynamoDB item."""

    def __init__(
        self,
        table_name: str,
        *,
        limit: int,
        lease_seconds: float,
        client: Any | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table_name = table_name
        self.limit = limit
        self.lease_seconds = lease_seconds
        self._dynamodb = client or boto3.client("dynamodb")
        self._clock = clock
        self._item_exists = False

    @contextmanager
    def slot_for_create(self) -> Iterator[Callable[[str], None]]:
        """Holds a lease while a create is sent; call the yielded function with the new operation's id.

        If the create fails in a way that surely did not reach Aiuta (``may_have_reached_server``
        false, e.g. a 429 or a refused connection), the lease is given back; if Aiuta may have
        acted on it, the lease stays until its expiry, as the operation may exist.
        """
        lease = f"create-{uuid.uuid4().hex}"
        self.acquire(lease)
        try:
            yield lambda operation_id: self.rename(lease, operation_id)
        except BaseException as exc:
            if not getattr(exc, "may_have_reached_server", False):
                self.release(lease)
            raise

    def acquire(self, lease: str) -> None:
        try:
            if self._acquired(lease):
                return
        except (BotoCoreError, ClientError) as exc:
            # The create is not sent: wait for capacity. The lease may have landed unanswered;
            # give it back if the table lets us, else it ends at its expiry.
            with suppress(BotoCoreError, ClientError):
                self.release(lease)
            raise CapacityUnavailable(
                f"the capacity table did not answer ({aws_error(exc)})", retry_after=1
            ) from None
        raise CapacityUnavailable(
            f"{self.limit} Aiuta operations are in flight, the most the pipeline may have "
            "(AiutaOperationsInFlight)"
        )

    def _acquired(self, lease: str) -> bool:
        self._ensure_item()
        if self._try_acquire(lease):
            return True
        return self._prune_expired() and self._try_acquire(lease)

    def rename(self, lease: str, operation_id: str) -> None:
        self._dynamodb.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": OPERATIONS_KEY}},
            UpdateExpression="REMOVE holders.#old SET holders.#new = :expiry",
            ExpressionAttributeNames={"#old": lease, "#new": operation_id},
            ExpressionAttributeValues={":expiry": {"N": str(int(self._clock() + self.lease_seconds))}},
        )

    def release(self, *leases: str) -> None:
        if not leases:
            return
        names = {f"#l{i}": lease for i, lease in enumerate(leases)}
        try:
            self._dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": OPERATIONS_KEY}},
                UpdateExpression="REMOVE " + ", ".join(f"holders.{name}" for name in names),
                ExpressionAttributeNames=names,
            )
        except ClientError as exc:
            # No item yet (nothing was ever acquired through this table): nothing to release.
            if exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise

    def in_flight(self) -> dict[str, float]:
        """Every lease held now and its expiry (epoch seconds)."""
        return {lease: float(expiry) for lease, expiry in self._holders().items()}

    def _holders(self) -> dict[str, str]:
        item = self._dynamodb.get_item(
            TableName=self.table_name, Key={"pk": {"S": OPERATIONS_KEY}}, ConsistentRead=True
        ).get("Item")
        return {lease: value["N"] for lease, value in (item or {}).get("holders", {}).get("M", {}).items()}

    def _ensure_item(self) -> None:
        if self._item_exists:
            return
        try:
            self._dynamodb.put_item(
                TableName=self.table_name,
                Item={"pk": {"S": OPERATIONS_KEY}, "holders": {"M": {}}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if not conditional_failure(exc):
                raise
        self._item_exists = True

    def _try_acquire(self, lease: str) -> bool:
        try:
            self._dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": OPERATIONS_KEY}},
                UpdateExpression="SET holders.#lease = :expiry",
                ConditionExpression="attribute_exists(holders.#lease) OR size(holders) < :limit",
                ExpressionAttributeNames={"#lease": lease},
                ExpressionAttributeValues={
                    ":expiry": {"N": str(int(self._clock() + self.lease_seconds))},
                    ":limit": {"N": str(self.limit)},
                },
            )
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise
        return True

    def _prune_expired(self) -> bool:
        """Removes leases past their expiry (each only if unchanged); whether any went."""
        holders = self._holders()
        expired = expired_leases({lease: float(expiry) for lease, expiry in holders.items()}, self._clock())
        for lease in expired:
            try:
                self._dynamodb.update_item(
                    TableName=self.table_name,
                    Key={"pk": {"S": OPERATIONS_KEY}},
                    UpdateExpression="REMOVE holders.#lease",
                    ConditionExpression="holders.#lease = :expiry",
                    ExpressionAttributeNames={"#lease": lease},
                    ExpressionAttributeValues={":expiry": {"N": holders[lease]}},
                )
                logger.warning("an expired operation lease was removed", extra={"lease": lease})
            except ClientError as exc:
                if not conditional_failure(exc):
                    raise
        return bool(expired)
