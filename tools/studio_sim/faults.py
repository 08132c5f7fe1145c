"""Counting API calls, the per-key rate limit, and injecting faults (latency, 429, 500, dropped connections).

Only ``/studio/v1`` is affected; ``/_sim/`` (admin) and ``/files/`` (image links) always answer.
The rate limit is checked after the latency and before the random faults: it is the service
refusing a client that calls too fast, whereas the faults are noise on top of that. Requests
with a missing or wrong key are not limited (they go on to their 401/403) and take no token.

A dropped connection closes the socket after the request was read and before any byte of an
answer, which is what a client sees when a server or load balancer dies mid-request. ASGI has
no message for that, so the simulator reaches uvicorn's transport through the ``receive``
callable (a bound method of uvicorn's request cycle, for both its h11 and httptools protocols),
closes it, and waits for the disconnect so uvicorn does not write a 500 of its own. On a server
without that attribute it falls back to announcing a one-byte body and raising, which uvicorn
also answers by closing the connection (the client then sees a broken response instead).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from studio_sim.api import API_PREFIX, key_is_accepted
from studio_sim.limits import key_id, retry_after
from studio_sim.state import SimState


class SimulatorMiddleware:
    def __init__(self, app: ASGIApp, state: SimState, router: APIRouter) -> None:
        self.app = app
        self.state = state
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        state = self.state
        endpoint = f"{scope['method']} {self._template(scope)}"
        state.record_call(endpoint)
        state.stats.record_request(endpoint)
        settings = state.settings
        if settings.latency_seconds > 0:
            await asyncio.sleep(settings.latency_seconds)
        wait = self._rate_limit_wait(scope)
        if wait is not None:
            state.stats.record_rejection("rate_limit")
            detail = (
                f"rate limit exceeded: at most {settings.rate_limit_per_second:g} requests per second "
                f"per API key, bursts of {settings.rate_limit_burst} (simulated)"
            )
            await _json(send, 429, {"detail": detail}, {"Retry-After": str(retry_after(wait))})
        elif state.roll(settings.rate_drop):
            await drop_connection(receive, send)
        elif state.roll(settings.rate_429):
            state.stats.record_rejection("injected")
            headers = {"Retry-After": str(settings.retry_after_seconds)}
            await _json(send, 429, {"detail": "simulated rate limit: too many requests"}, headers)
        elif state.roll(settings.rate_500):
            await _json(send, 500, {"detail": "simulated internal server error"})
        else:
            await self.app(scope, receive, send)

    def _rate_limit_wait(self, scope: Scope) -> float | None:
        """Seconds this request's key must wait for a token, or None if it may go ahead."""
        settings = self.state.settings
        if settings.rate_limit_per_second is None:
            return None
        given = Headers(scope=scope).get("x-api-key")
        if not key_is_accepted(self.state, given):
            return None
        return self.state.limiter.wait_needed(
            key_id(given or ""), settings.rate_limit_per_second, settings.rate_limit_burst
        )

    def _template(self, scope: Scope) -> str:
        """The route's path template (``/studio/v1/uploaded_images/{image_id}``), or the raw path."""
        partial = None
        for route in self.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", scope["path"]))
            if match is Match.PARTIAL and partial is None:
                partial = str(getattr(route, "path", scope["path"]))
        return partial or scope["path"]


async def drop_connection(receive: Receive, send: Send) -> None:
    """Close the connection without answering (see the module docstring for how)."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
        raise ConnectionAbortedError("simulated dropped connection")
    message: dict[str, Any] = {"more_body": True}
    while message.get("more_body") and message.get("type") != "http.disconnect":
        message = dict(await receive())
    transport.close()
    while message.get("type") != "http.disconnect":
        message = dict(await receive())


async def _json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
