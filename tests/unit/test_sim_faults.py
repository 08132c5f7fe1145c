"""The dropped-connection trick, without a server: both the transport path and the fallback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from studio_sim.faults import drop_connection


class FakeTransport:
    def __init__(self, cycle: FakeCycle) -> None:
        self.cycle = cycle
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.cycle.disconnected = True


class FakeCycle:
    """Stands in for uvicorn's request cycle: ``receive`` is a bound method next to ``transport``."""

    def __init__(self, body_parts: int) -> None:
        self.transport = FakeTransport(self)
        self.disconnected = False
        self.parts_left = body_parts

    async def receive(self) -> dict[str, Any]:
        if self.disconnected:
            return {"type": "http.disconnect"}
        self.parts_left -= 1
        return {"type": "http.request", "body": b"x", "more_body": self.parts_left > 0}


def test_the_body_is_read_then_the_transport_closed_and_nothing_sent() -> None:
    cycle = FakeCycle(body_parts=3)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(drop_connection(cycle.receive, send))

    assert cycle.transport.closed
    assert cycle.parts_left == 0
    assert sent == []


def test_without_a_transport_it_promises_a_body_and_breaks_off() -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with pytest.raises(ConnectionAbortedError):
        asyncio.run(drop_connection(receive, send))

    assert sent[0]["type"] == "http.response.start"
    assert (b"content-length", b"1") in sent[0]["headers"]
