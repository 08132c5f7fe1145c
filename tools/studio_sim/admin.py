"""The simulator's own routes: ``/_sim/`` to steer it, ``/files/`` to serve its images.

Neither needs an API key: the admin API is for tests and demos on one machine, and image
links work like public storage links, valid until they expire.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from studio_core.aiuta.requests import GenerateFlatLayImagesRequest, GenerateOnFigureImagesRequest
from studio_sim.api import API_PREFIX, root_url, sim_state
from studio_sim.api import _inputs as inputs_of
from studio_sim.api import _look as look_of
from studio_sim.settings import Outcome
from studio_sim.state import ImageKind, OperationKind
from studio_sim.timeline import Plan, iso

NOTICE = (
    "This is the Aiuta Studio API simulator, not the real Aiuta service. "
    "Its operations and images are simulated locally."
)
FILE_KINDS: tuple[ImageKind, ...] = ("uploaded", "inputs", "generated", "presets")
# With a bandwidth cap, a file goes out in slices this big, each when the capped link would have
# delivered its last byte (64 KiB at 10 MB/s: every 6.6 ms).
PACED_SLICE_BYTES = 64 * 1024

admin_router = APIRouter(prefix="/_sim", tags=["simulator"])
files_router = APIRouter(prefix="/files", tags=["simulator"])


class Advance(BaseModel):
    seconds: float = Field(ge=0, le=10 * 365 * 24 * 3600)


def info(request: Request) -> dict[str, Any]:
    base = root_url(request)
    return {
        "simulator": True,
        "name": "Aiuta Studio API simulator",
        "notice": NOTICE,
        "base_url": base + API_PREFIX,
        "admin_url": base + "/_sim",
        **sim_state(request).info(),
    }


@admin_router.get("/info")
def get_info(request: Request) -> dict[str, Any]:
    return info(request)


@admin_router.post("/config")
def configure(request: Request, changes: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    """Change some settings; the answer is every setting after the change."""
    try:
        settings = sim_state(request).configure(changes)
    except ValidationError as exc:
        # No input echo: the body may hold an API key.
        raise RequestValidationError(
            [
                {**error, "loc": ("body", *error["loc"])}
                for error in exc.errors(include_input=False, include_context=False, include_url=False)
            ]
        ) from None
    return settings.public_view()


@admin_router.post("/reset")
def reset(request: Request) -> dict[str, Any]:
    sim_state(request).reset()
    return info(request)


@admin_router.post("/clock/advance")
def advance(request: Request, body: Advance) -> dict[str, Any]:
    clock = sim_state(request).clock
    now = clock.advance(body.seconds)
    return {"now": iso(now), "offset_seconds": clock.offset}


class SeededOperation(BaseModel):
    """An operation under an id of the caller's choosing, finished with SUCCESS at once: what a
    sample event (``events/finalize.json``) refers to. ``request`` is the create request's body."""

    operation_id: str = Field(min_length=1, max_length=200)
    kind: OperationKind
    request: dict[str, Any]


@admin_router.post("/operations")
def seed_operation(request: Request, body: SeededOperation) -> dict[str, Any]:
    """Creates the operation (its inputs fetched as a create fetches them) unless it exists."""
    state = sim_state(request)
    if state.operation(body.operation_id, body.kind) is not None:
        return {"operation_id": body.operation_id, "created": False}
    model = GenerateOnFigureImagesRequest if body.kind == "on_figure" else GenerateFlatLayImagesRequest
    try:
        parsed = model.model_validate(body.request)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**error, "loc": ("body", "request", *error["loc"])}
                for error in exc.errors(include_input=False, include_context=False, include_url=False)
            ]
        ) from None
    input_ids, early_error = inputs_of(state, parsed)
    state.add_operation(
        body.kind,
        look_of(parsed),
        [image_type.model_dump(mode="json") for image_type in parsed.image_types],
        parsed.number_of_generations,
        input_ids,
        early_error,
        operation_id=body.operation_id,
        plan=Plan(outcome=Outcome.SUCCESS, duration=0.0, early_error=early_error),
    )
    return {"operation_id": body.operation_id, "created": True}


@admin_router.get("/calls")
def calls(request: Request) -> dict[str, Any]:
    """API calls so far per ``METHOD /path-template``, and every operation created, in order."""
    state = sim_state(request)
    with state.lock:
        return {
            "calls": dict(state.calls.counts),
            "total": sum(state.calls.counts.values()),
            "operation_ids": list(state.calls.operation_ids),
        }


@admin_router.get("/stats")
def stats(request: Request) -> dict[str, Any]:
    """Requests per wall-clock second (total and per endpoint), 429s by cause, operations created by kind."""
    return sim_state(request).stats.snapshot()


@files_router.get("/{kind}/{name}")
def serve_file(kind: str, name: str, request: Request) -> Response:
    state = sim_state(request)
    image_id = name.rsplit(".", 1)[0]
    image = state.live_image(image_id, kind) if kind in FILE_KINDS else None  # type: ignore[arg-type]
    if image is None:
        raise HTTPException(404, "no such image (never existed, or deleted)")
    if state.is_expired(image):
        raise HTTPException(410, f"this link expired at {iso(image.expires_at or 0)}")
    data = state.image_bytes(image)
    if state.settings.file_latency_seconds:
        time.sleep(state.settings.file_latency_seconds)  # a sync route: FastAPI runs it in a worker thread
    headers = {"Cache-Control": "no-store"}
    bandwidth = state.settings.file_bandwidth_bytes_per_second
    if bandwidth is None:
        return Response(data, media_type=image.content_type, headers=headers)
    headers["Content-Length"] = str(len(data))
    return StreamingResponse(_paced(data, bandwidth), media_type=image.content_type, headers=headers)


async def _paced(data: bytes, bytes_per_second: float) -> AsyncIterator[bytes]:
    """``data`` no faster than ``bytes_per_second``: all of it takes ``len(data) / bytes_per_second``."""
    started = time.monotonic()
    view = memoryview(data)
    for offset in range(0, len(data), PACED_SLICE_BYTES):
        end = min(offset + PACED_SLICE_BYTES, len(data))
        delay = started + end / bytes_per_second - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        yield bytes(view[offset:end])
