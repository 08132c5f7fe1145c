"""The waiting room: turns for the jobs waiting for capacity, in the capacity table
(``pk = aiuta#waiting-room#<queue>``), the same kind of budget as the requests'.

A job that found no capacity comes back at its turn, so the waiting jobs come back at the pace
Aiuta can take them, in the order they arrived, instead of all at once or after blind backoffs
that leave capacity unused. New work and work already at Aiuta queue apart
(``domain.capacity.WaitingQueue``).
"""

from __future__ import annotations

from typing import Any

from studio_core.aws.capacity import WAITING_ROOM_KEY
from studio_core.aws.request_budget import RequestBudget
from studio_core.domain.capacity import CapacityTask, WaitingQueue


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
