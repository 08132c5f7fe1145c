"""The waiting room: turns for the jobs waiting for capacity, in the capacity table
(``pk = aiuta#waiting-room#<queue>``), the same kind of budget as the requests'.

A job that found no capacity comes back at its turn, so the waiting jobs come back at the pace
Aiuta can take them, in the order they arrived, instead of all at once or after blind backoffs
that leave capacity unused. New work and work already at Aiuta queue apart
(``domain.capacity.WaitingQueue``). New work's pace is the account's rate divided by the
requests an operation costs, as the request budget counts them
(``domain.capacity.requests_per_operation``), read at most every ``COUNTS_FRESH_SECONDS``.
A create waiting because the request rate binds is also noted on the request budget's item
(``note_create_waiting``: the backlog of new work), so that polls yield to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from studio_core.aws.capacity import REQUESTS_KEY, WAITING_ROOM_KEY, aws_error
from studio_core.aws.request_budget import RequestBudget
from studio_core.domain.capacity import (
    REQUESTS_PER_OPERATION,
    CapacityTask,
    WaitingQueue,
    requests_per_operation,
)

logger = logging.getLogger(__name__)

# How long a planner trusts the counts it read (one read per planner and half-minute at most).
COUNTS_FRESH_SECONDS = 30.0


class WaitingRoom:
    """Turns for the jobs waiting for capacity, first come first served, one queue per kind of
    work (``domain.capacity.WaitingQueue``), each at its own pace."""

    def __init__(
        self,
        table_name: str,
        *,
        rate: float,
        client: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
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
        self._requests = RequestBudget(table_name, rate=rate, burst=1, client=client, key=REQUESTS_KEY)
        self._clock = clock
        self._per_operation: tuple[float, float] | None = None  # (figure, read at)

    def requests_per_operation(self) -> float:
        """What an operation costs in requests, as counted lately (the fixed figure if unreadable)."""
        now = self._clock()
        if self._per_operation is not None and now - self._per_operation[1] < COUNTS_FRESH_SECONDS:
            return self._per_operation[0]
        try:
            figure = requests_per_operation(*self._requests.counted())
        except (BotoCoreError, ClientError) as exc:
            logger.info("the request counts could not be read", extra={"error": aws_error(exc)})
            figure = float(REQUESTS_PER_OPERATION)
        self._per_operation = (figure, now)
        return figure

    def turn(self, task: CapacityTask, latest: float) -> float | None:
        """The next free turn of ``task``'s queue (epoch seconds), reserved, if it comes by
        ``latest``; else None."""
        queue = WaitingQueue.of(task)
        budget = self._queues[queue]
        if queue is WaitingQueue.NEW_WORK:
            budget.rate = queue.turns_per_second(self.rate, self.requests_per_operation())
        return budget.reserve(latest)

    def note_create_waiting(self, until: float) -> None:
        """Notes a create waiting for a request turn until ``until`` (epoch seconds) on the request
        budget's item, where every status check sees the backlog of new work
        (``RequestBudget.note_new_work_waiting``)."""
        self._requests.note_new_work_waiting(until, self._queues[WaitingQueue.NEW_WORK].rate)
