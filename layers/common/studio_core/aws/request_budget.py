"""The request budget: ``rate`` requests/s with bursts of ``burst``, shared through one item of
the capacity table (``pk = aiuta#requests``, ``tat_ms``; see ``domain.capacity.reserve_request``).

Every call to Aiuta reserves a send time with one atomic conditional update while the budget is
busy (``tat_ms`` moves on by one interval and says which turn was taken: no read, no conflicts,
however many Lambdas ask at once) and sleeps until then, if that is soon (``max_wait_seconds``, a
Lambda should not idle); otherwise it raises ``CapacityUnavailable`` with the time until the budget
has room, and the job waits in its state machine instead. A caller that wakes too late for its
turn takes another, so late requests do not bunch up.

The account's budget (``counts=True``) also counts, in the same update that takes a turn, the
requests sent (``requests_sent``) and the creates among them (``operations_created``); the
waiting room lets new work in at the pace those counts measure
(``domain.capacity.requests_per_operation``). The counts are halved now and then
(``domain.capacity.halved_counts``, one more conditional update every 500 requests or so), so
they weigh recent traffic most.

The same item keeps the waiting room's backlog of new work held back by the request rate
(``note_new_work_waiting``: the last turn given to such a create, and new work's pace then) and
when a create was last sent (set by the update that takes a create's turn). The update that
takes a turn returns the item, so every caller sees the backlog at no request of its own
(``creates_waiting``, ``rate_pressure``): the status check and submit yield to creates with it
(``domain.learned_polling.rate_pressure_from``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from studio_core.aws.capacity import REQUESTS_KEY, aws_error, conditional_failure
from studio_core.domain.capacity import NewWorkBacklog, halved_counts
from studio_core.domain.errors import CapacityUnavailable
from studio_core.domain.learned_polling import rate_pressure_from

logger = logging.getLogger(__name__)

# Optimistic updates lost to another Lambda before giving up on one reservation.
MAX_CONFLICTS = 25
# The counts kept beside the budget's ``tat_ms`` (``counts=True``).
SENT = "requests_sent"
CREATED = "operations_created"
# The new work waiting for a request turn: the last turn given (epoch ms) and the pace then
# (turns/s); and when a create was last sent (epoch ms).
WAITING_UNTIL = "new_work_until_ms"
WAITING_PACE = "new_work_pace"
LAST_CREATE = "last_create_ms"


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
        counts: bool = False,
    ) -> None:
        self.table_name = table_name
        self.key = key
        self.counts = counts
        self.rate = rate
        self.burst = burst
        self.max_wait_seconds = max_wait_seconds
        self._dynamodb = client or boto3.client("dynamodb")
        self._clock = clock
        self._sleep = sleep
        self.waited_seconds = 0.0
        # How late after its turn a request may still go: half a turn (a quarter second at most).
        # A turn given up is a turn of the account lost, but a request sent late lands nearer the
        # turns after it: up to rate x late more requests in a second. Under a whole turn, no
        # second holds more than rate + burst (the template's promise); half a turn leaves the
        # other half for the network's jitter.
        self.late_seconds = min(0.25, 0.5 / rate)
        self._backlog: NewWorkBacklog | None = None  # as the item was last seen

    def take(self, *, create: bool = False, send_by: float | None = None) -> float:
        """Blocks until this caller may send one request (``create``: one that creates an operation)
        and returns that turn (epoch seconds); ``CapacityUnavailable`` if it is far off, or later
        than ``send_by`` (epoch seconds), or if the table's answers take us past ``send_by``."""
        missed = False
        while True:
            now = self._clock()
            latest = now + self.max_wait_seconds
            if send_by is not None:
                if now > send_by:  # the table's answers took the time this request had
                    raise CapacityUnavailable(
                        "the request budget's table answered too slowly for this request to go in time",
                        retry_after=1,
                    )
                latest = min(latest, send_by)
            try:
                # A turn retaken after a missed one is the same request: it is counted once.
                turn = self._reserve(now, latest, create, counted=not missed)
            except (BotoCoreError, ClientError) as exc:
                # Nothing was sent to Aiuta yet: the job waits for capacity, it does not fail.
                raise CapacityUnavailable(
                    f"the capacity table did not answer ({aws_error(exc)})", retry_after=1
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
                logger.warning("a request turn was missed; taking another", extra={"late_seconds": late})
                missed = True
                continue
            return turn

    def creates_waiting(self) -> float:
        """About how many creates wait for a request turn now, as the last turn taken saw the item
        (no request of its own; ``domain.capacity.NewWorkBacklog``)."""
        return 0.0 if self._backlog is None else self._backlog.creates_waiting(self._clock())

    def read_creates_waiting(self) -> float:
        """About how many creates wait for a request turn, from one consistent read of the item."""
        self._read_item()
        return self.creates_waiting()

    def rate_pressure(self) -> float:
        """How hard this budget's rate binds, 0..1, from ``creates_waiting``."""
        return rate_pressure_from(self.creates_waiting(), self.rate)

    def note_new_work_waiting(self, until: float, pace: float) -> None:
        """Notes that a create the request rate held back waits until ``until`` (epoch seconds), new
        work going at ``pace`` turns/s: one update, kept only if it is the latest turn noted.
        Raises on DynamoDB errors."""
        try:
            answer = self._dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                UpdateExpression=f"SET {WAITING_UNTIL} = :until, {WAITING_PACE} = :pace",
                ConditionExpression=f"attribute_not_exists({WAITING_UNTIL}) OR {WAITING_UNTIL} < :until",
                ExpressionAttributeValues={
                    ":until": {"N": str(int(until * 1000))},
                    ":pace": {"N": f"{pace:.6g}"},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if not conditional_failure(exc):
                raise
            return  # a later turn is noted already: the backlog reaches at least that far
        self._seen(answer.get("Attributes", {}))

    def _seen(self, attributes: dict[str, Any]) -> None:
        """Keeps the new-work backlog of the item an update or a read returned."""
        if WAITING_UNTIL not in attributes:
            self._backlog = None
            return
        last = attributes.get(LAST_CREATE)
        self._backlog = NewWorkBacklog(
            until=int(attributes[WAITING_UNTIL]["N"]) / 1000,
            pace=float(attributes.get(WAITING_PACE, {}).get("N", 0)),
            last_create=int(last["N"]) / 1000 if last else None,
        )

    def _read_item(self) -> dict[str, Any]:
        item: dict[str, Any] = (
            self._dynamodb.get_item(
                TableName=self.table_name, Key={"pk": {"S": self.key}}, ConsistentRead=True
            ).get("Item")
            or {}
        )
        self._seen(item)
        return item

    def reserve(self, latest: float) -> float | None:
        """Reserves the next turn, without waiting for it, if it comes by ``latest`` (epoch seconds)."""
        turn = self._reserve(self._clock(), latest)
        return None if isinstance(turn, _TooFar) else turn

    def counted(self) -> tuple[int, int]:
        """The requests and the creates counted so far (decayed), from one consistent read."""
        item = (
            self._dynamodb.get_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                ConsistentRead=True,
                ProjectionExpression=f"{SENT}, {CREATED}",
            ).get("Item")
            or {}
        )
        return int(item.get(SENT, {}).get("N", 0)), int(item.get(CREATED, {}).get("N", 0))

    def _reserve(
        self, now: float, latest: float, create: bool = False, counted: bool = True
    ) -> float | _TooFar:
        """The next turn, reserved, if it comes by ``latest``.

        A busy budget (its theoretical arrival time ``tat`` ahead of now) takes one atomic update:
        ``tat`` moves on by one interval if it is not too far ahead, and the new value says which
        turn was taken, so any number of callers at once get their turns without conflicts. An
        idle one is set to now (conditional on still being idle). ``domain.capacity.reserve_request``
        is the same rule, in arithmetic.
        """
        interval_ms = 1000.0 / self.rate
        tolerance_ms = (self.burst - 1) * interval_ms
        for conflict in range(MAX_CONFLICTS):
            if conflict and now > latest:
                # A table slow to answer: a turn now would come too late for this caller.
                raise CapacityUnavailable(
                    f"the request budget's table answered too slowly to give a turn in time "
                    f"({conflict} tries)",
                    retry_after=1,
                )
            now_ms = int(now * 1000)
            limit_ms = int(latest * 1000 + tolerance_ms)
            moved, tat = self._advance(now_ms, limit_ms, math.ceil(interval_ms), create, counted)
            if moved:
                assert tat is not None
                return max(now_ms, tat - math.ceil(interval_ms) - tolerance_ms) / 1000
            if tat is not None and tat >= now_ms:
                if tat > limit_ms:
                    return _TooFar(max(0.0, (tat - tolerance_ms - now_ms) / 1000))
                now = self._clock()
                continue  # it moved on meanwhile: try the atomic step again
            if self._restart(tat, now_ms, now_ms + math.ceil(interval_ms), create, counted):
                return now_ms / 1000
            now = self._clock()
        raise CapacityUnavailable(
            f"the request budget is contended by too many callers ({MAX_CONFLICTS} conflicts)", retry_after=1
        )

    def _counting(self, create: bool, counted: bool, now_ms: int) -> tuple[str, dict[str, Any]]:
        """The clauses that count the request taking the turn, and note when a create was last
        sent (none without ``counts``); they follow a ``SET`` clause."""
        if not (self.counts and counted):
            return "", {}
        created_at = f", {LAST_CREATE} = :sent_at" if create else ""
        values = {":one": {"N": "1"}, ":created": {"N": "1" if create else "0"}}
        if create:
            values[":sent_at"] = {"N": str(now_ms)}
        return f"{created_at} ADD {SENT} :one, {CREATED} :created", values

    def _advance(
        self, now_ms: int, limit_ms: int, interval_ms: int, create: bool = False, counted: bool = True
    ) -> tuple[bool, int | None]:
        """``tat += interval`` if ``now <= tat <= limit``: (True, the new ``tat``); else (False, the
        ``tat`` the refusal returned, None if there is none), so a refused step costs no read."""
        counting, values = self._counting(create, counted, now_ms)
        try:
            answer = self._dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                UpdateExpression="SET tat_ms = tat_ms + :interval" + counting,
                ConditionExpression="tat_ms BETWEEN :now AND :limit",
                ExpressionAttributeValues={
                    ":interval": {"N": str(interval_ms)},
                    ":now": {"N": str(now_ms)},
                    ":limit": {"N": str(limit_ms)},
                    **values,
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if conditional_failure(exc):
                item: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
                self._seen(item)
                return False, int(item["tat_ms"]["N"]) if "tat_ms" in item else None
            raise
        self._seen(answer["Attributes"])
        self._decay(answer["Attributes"])
        return True, int(answer["Attributes"]["tat_ms"]["N"])

    def _decay(self, attributes: dict[str, Any]) -> None:
        """Halves the counts once they reach ``COUNTS_HALVED_AT`` requests, if nobody counted one
        meanwhile (else a later caller does it). A failure costs nothing but the decay."""
        if not self.counts or SENT not in attributes:
            return
        sent, created = int(attributes[SENT]["N"]), int(attributes.get(CREATED, {}).get("N", 0))
        halved = halved_counts(sent, created)
        if halved is None:
            return
        try:
            self._dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                UpdateExpression=f"SET {SENT} = :sent, {CREATED} = :created",
                ConditionExpression=f"{SENT} = :seen",
                ExpressionAttributeValues={
                    ":sent": {"N": str(halved[0])},
                    ":created": {"N": str(halved[1])},
                    ":seen": {"N": str(sent)},
                },
            )
        except (BotoCoreError, ClientError) as exc:
            if not (isinstance(exc, ClientError) and conditional_failure(exc)):
                logger.info("the request counts were not halved", extra={"error": aws_error(exc)})

    def _restart(
        self, expected: int | None, now_ms: int, new: int, create: bool = False, counted: bool = True
    ) -> bool:
        """An idle budget (``tat`` in the past, or never used) starts again from now."""
        condition = "attribute_not_exists(tat_ms)" if expected is None else "tat_ms = :old"
        counting, adding = self._counting(create, counted, now_ms)
        values: dict[str, Any] = {":new": {"N": str(new)}, **adding}
        if expected is not None:
            values[":old"] = {"N": str(expected)}
        try:
            answer = self._dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                UpdateExpression="SET tat_ms = :new" + counting,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if conditional_failure(exc):
                return False
            raise
        self._seen(answer.get("Attributes", {}))
        self._decay(answer.get("Attributes", {}))
        return True


@dataclass(frozen=True)
class _TooFar:
    seconds: float
