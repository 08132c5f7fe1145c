"""The pipeline's share of one Aiuta account, shared by every Lambda through the capacity table.

Two items of the table (``CapacityTable`` in template.yaml, key ``pk``):

- ``pk = aiuta#requests``: the request budget, ``tat_ms`` (see ``domain.capacity.reserve_request``).
  Every call to Aiuta reserves a send time with one atomic conditional update while the budget
  is busy (``tat_ms`` moves on by one interval and says which turn was taken: no read, no
  conflicts, however many Lambdas ask at once) and sleeps until then, if that is soon
  (``max_wait_seconds``, a Lambda should not idle); otherwise it raises ``CapacityUnavailable``
  with the time until the budget has room, and the job waits in its state machine instead. A
  caller that wakes too late for its turn takes another, so late requests do not bunch up.
- ``pk = aiuta#waiting-room#<queue>``: the turns of the jobs waiting for capacity (``WaitingRoom``),
  the same kind of budget: a job that found no capacity comes back at its turn, so the waiting
  jobs come back at the pace Aiuta can take them, in the order they arrived, instead of all at
  once or after blind backoffs that leave capacity unused. New work and work already at Aiuta
  queue apart (``domain.capacity.WaitingQueue``).
- ``pk = aiuta#operations``: the operations in flight, ``holders`` = ``{lease: expiry}``. A create
  takes a lease (conditional on fewer than ``limit`` leases) before it is sent, keyed by a fresh id;
  once Aiuta answers, the lease is re-keyed by the operation id; it ends when a read shows the
  operation finished (or on its expiry, for a lease nobody saw end). Set semantics make a retried
  acquire or release harmless.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from studio_core.domain.capacity import CapacityTask, WaitingQueue, expired_leases
from studio_core.domain.errors import CapacityUnavailable

logger = logging.getLogger(__name__)

REQUESTS_KEY = "aiuta#requests"
OPERATIONS_KEY = "aiuta#operations"
WAITING_ROOM_KEY = "aiuta#waiting-room"
# Optimistic updates lost to another Lambda before giving up on one reservation.
MAX_CONFLICTS = 25


def _conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class RequestBudget:
    """``rate`` requests/s with bursts of ``burst``, shared through one DynamoDB item."""

    def __init__(
        self,
        table_name: str,
        *,
        rate: float,
        burst: int,
        max_wait_seconds: float = 5.0,
        client: Any | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        key: str = REQUESTS_KEY,
    ) -> None:
        self.table_name = table_name
        self.key = key
        self.rate = rate
        self.burst = burst
        self.max_wait_seconds = max_wait_seconds
        self._dynamodb = client or boto3.client("dynamodb")
        self._clock = clock
        self._sleep = sleep
        self.waited_seconds = 0.0
        # How late after its turn a request may still go: half a turn, at most a quarter second.
        self.late_seconds = min(0.25, 0.5 / rate)

    def take(self) -> float:
        """Blocks until this caller may send one request and returns that turn (epoch seconds);
        ``CapacityUnavailable`` if it is far off."""
        missed = False
        while True:
            now = self._clock()
            try:
                turn = self._reserve(now, latest=now + self.max_wait_seconds)
            except (BotoCoreError, ClientError) as exc:
                # Nothing was sent to Aiuta yet: the job waits for capacity, it does not fail.
                raise CapacityUnavailable(
                    f"the capacity table did not answer ({_aws_error(exc)})", retry_after=1
                ) from None
            if isinstance(turn, _TooFar):
                raise CapacityUnavailable(
                    f"the pipeline's Aiuta budget of {self.rate:g} requests/s is taken for the next "
                    f"{turn.seconds:.1f} s (AiutaRequestsPerSecond)",
                    retry_after=turn.seconds,
                )
            wait = turn - now
            if wait > 0:
                self.waited_seconds += wait
                self._sleep(wait)
            late = self._clock() - turn
            if late > self.late_seconds and not missed:
                # Woken long after the turn (a busy host): sending now could bunch with the next
                # turns, so the missed one is given up and one new one taken (only one: on a host
                # that keeps waking late, retaking would only burn the turns of others).
                logger.info("a request turn was missed; taking another", extra={"late_seconds": late})
                missed = True
                continue
            return turn

    def reserve(self, latest: float) -> float | None:
        """Reserves the next turn, without waiting for it, if it comes by ``latest`` (epoch seconds)."""
        turn = self._reserve(self._clock(), latest)
        return None if isinstance(turn, _TooFar) else turn

    def _reserve(self, now: float, latest: float) -> float | _TooFar:
        """The next turn, reserved, if it comes by ``latest``.

        A busy budget (its theoretical arrival time ``tat`` ahead of now) takes one atomic update:
        ``tat`` moves on by one interval if it is not too far ahead, and the new value says which
        turn was taken, so any number of callers at once get their turns without conflicts. An
        idle one is set to now (conditional on still being idle). ``domain.capacity.reserve_request``
        is the same rule, in arithmetic.
        """
        interval_ms = 1000.0 / self.rate
        tolerance_ms = (self.burst - 1) * interval_ms
        for _ in range(MAX_CONFLICTS):
            now_ms = int(now * 1000)
            limit_ms = int(latest * 1000 + tolerance_ms)
            moved = self._advance(now_ms, limit_ms, math.ceil(interval_ms))
            if moved is not None:
                return max(now_ms, moved - math.ceil(interval_ms) - tolerance_ms) / 1000
            tat = self._read_tat()
            if tat is not None and tat >= now_ms:
                if tat > limit_ms:
                    return _TooFar(max(0.0, (tat - tolerance_ms - now_ms) / 1000))
                continue  # it moved on meanwhile: try the atomic step again
            if self._restart(tat, now_ms + math.ceil(interval_ms)):
                return now_ms / 1000
            now = self._clock()
        raise CapacityUnavailable(
            f"the request budget is contended by too many callers ({MAX_CONFLICTS} conflicts)", retry_after=1
        )

    def _advance(self, now_ms: int, limit_ms: int, interval_ms: int) -> int | None:
        """``tat += interval`` if ``now <= tat <= limit``; the new ``tat``, or None."""
        try:
            answer = self._dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                UpdateExpression="SET tat_ms = tat_ms + :interval",
                ConditionExpression="tat_ms BETWEEN :now AND :limit",
                ExpressionAttributeValues={
                    ":interval": {"N": str(interval_ms)},
                    ":now": {"N": str(now_ms)},
                    ":limit": {"N": str(limit_ms)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if _conditional_failure(exc):
                return None
            raise
        return int(answer["Attributes"]["tat_ms"]["N"])

    def _read_tat(self) -> int | None:
        item = self._dynamodb.get_item(
            TableName=self.table_name, Key={"pk": {"S": self.key}}, ConsistentRead=True
        ).get("Item")
        return int(item["tat_ms"]["N"]) if item and "tat_ms" in item else None

    def _restart(self, expected: int | None, new: int) -> bool:
        """An idle budget (``tat`` in the past, or never used) starts again from now."""
        condition = "attribute_not_exists(tat_ms)" if expected is None else "tat_ms = :old"
        values: dict[str, Any] = {":new": {"N": str(new)}}
        if expected is not None:
            values[":old"] = {"N": str(expected)}
        try:
            self._dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                UpdateExpression="SET tat_ms = :new",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True


def _aws_error(exc: BotoCoreError | ClientError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


@dataclass(frozen=True)
class _TooFar:
    seconds: float


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
                f"the capacity table did not answer ({_aws_error(exc)})", retry_after=1
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
            if not _conditional_failure(exc):
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
            if _conditional_failure(exc):
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
                if not _conditional_failure(exc):
                    raise
        return bool(expired)


class WaitingRoom:
    """Turns for the jobs waiting for capacity, first come first served, one queue per kind of
    work (``domain.capacity.WaitingQueue``), each at its own pace."""

    def __init__(self, table_name: str, *, rate: float, client: Any | None = None) -> None:
        self._queues = {
            queue: RequestBudget(
                table_name,
                rate=queue.turns_per_second(rate),
                burst=1,
                client=client,
                key=f"{WAITING_ROOM_KEY}#{queue.value}",
            )
            for queue in WaitingQueue
        }

    def turn(self, task: CapacityTask, latest: float) -> float | None:
        """The next free turn of ``task``'s queue (epoch seconds), reserved, if it comes by
        ``latest``; else None."""
        return self._queues[WaitingQueue.of(task)].reserve(latest)


class AccountCapacity:
    """What one Aiuta account allows the pipeline: its request budget and its operations in flight."""

    def __init__(self, requests: RequestBudget, operations: OperationSlots) -> None:
        self.requests = requests
        self.operations = operations
