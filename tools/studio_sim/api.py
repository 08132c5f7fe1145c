"""The ten Studio API endpoints under ``/studio/v1``, validated with the project's own request models."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Depends, File, HTTPException, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError

from studio_core.aiuta.requests import (
    BackgroundType,
    GenerateFlatLayImagesRequest,
    GenerateOnFigureImagesRequest,
    RegenerateOnFigureImagesRequest,
)
from studio_sim import probe
from studio_sim.fetch import FetchFailed, fetch_images
from studio_sim.images import NotAnImage, geometry_problem, inspect_image
from studio_sim.limits import TooManyUnfinished, key_id
from studio_sim.presets import PRESETS
from studio_sim.state import Look, OperationKind, SimState
from studio_sim.views import image_json, operation_json

API_PREFIX = "/studio/v1"
MAX_UPLOAD_BYTES = 30 * 1024 * 1024

GenerateRequest = GenerateOnFigureImagesRequest | GenerateFlatLayImagesRequest


def sim_state(request: Request) -> SimState:
    return request.app.state.sim


def root_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def key_is_accepted(state: SimState, given: str | None) -> bool:
    expected = state.settings.api_key.get_secret_value()
    return bool(given) and secrets.compare_digest((given or "").encode(), expected.encode())


def require_api_key(request: Request) -> None:
    """401 without ``x-api-key``, 403 with a wrong one; the key is never repeated back."""
    given = request.headers.get("x-api-key")
    if not given:
        raise HTTPException(401, "the x-api-key header is missing (this is the Aiuta Studio simulator)")
    if not key_is_accepted(sim_state(request), given):
        raise HTTPException(403, "the x-api-key header does not hold a valid API key")


def owner(request: Request) -> str:
    """Who the limits count this request against: the fingerprint of its (already checked) key."""
    return key_id(request.headers.get("x-api-key", ""))


def answer(request: Request, body: Any) -> Any:
    """A successful JSON answer, with unknown fields added when the tolerant-reading probe is on."""
    return probe.with_extra_fields(body) if sim_state(request).settings.extra_answer_fields else body


@contextmanager
def creation_slot(request: Request) -> Iterator[None]:
    """A slot under ``max_unfinished_operations`` for one create, or a 429 with ``Retry-After``."""
    state = sim_state(request)
    try:
        with state.creation_slot(owner(request)):
            yield
    except TooManyUnfinished as exc:
        state.stats.record_rejection("unfinished_operations")
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_seconds)}) from None


router = APIRouter(prefix=API_PREFIX, dependencies=[Depends(require_api_key)])


def rejected(loc: tuple[str | int, ...], msg: str, value: Any = None) -> RequestValidationError:
    """A 422 shaped like FastAPI's own, for rules the request models cannot check alone."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", *loc), "msg": msg, "input": value}]
    )


@router.post("/uploaded_images")
def upload_image(request: Request, image_data: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
    data = image_data.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise rejected(("image_data",), f"the image is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    try:
        decoded = inspect_image(data)
    except NotAnImage as exc:
        raise rejected(("image_data",), f"image_data is not a usable image: {exc}") from None
    state = sim_state(request)
    image = state.store_image("uploaded", data, decoded.extension, decoded.content_type)
    return answer(request, image_json(image, root_url(request)))


@router.get("/uploaded_images/{image_id}")
def get_uploaded_image(image_id: str, request: Request) -> dict[str, Any]:
    image = sim_state(request).live_image(image_id, "uploaded")
    if image is None:
        raise HTTPException(404, f"no uploaded image {image_id!r}")
    return answer(request, image_json(image, root_url(request)))


@router.delete("/uploaded_images/{image_id}", status_code=204)
def delete_uploaded_image(image_id: str, request: Request) -> Response:
    _delete(request, image_id, "uploaded")
    return Response(status_code=204)


@router.delete("/generated_images/{image_id}", status_code=204)
def delete_generated_image(image_id: str, request: Request) -> Response:
    _delete(request, image_id, "generated")
    return Response(status_code=204)


def _delete(request: Request, image_id: str, kind: str) -> None:
    state = sim_state(request)
    image = state.live_image(image_id, kind)  # type: ignore[arg-type]
    if image is None:
        raise HTTPException(404, f"no {kind} image {image_id!r}")
    with state.lock:
        image.deleted = True
        image.data = None


@router.get("/on_figure_model_presets")
def list_presets(request: Request) -> list[dict[str, Any]]:
    base = root_url(request)
    presets = [
        {
            "preset_id": preset.preset_id,
            "sample_image": f"{base}/files/presets/{preset.preset_id}.png",
            "settings": preset.settings.model_dump(mode="json", exclude_none=True),
        }
        for preset in PRESETS.values()
    ]
    if sim_state(request).settings.extra_answer_fields:
        presets = probe.with_unknown_hair_color(presets)
    return answer(request, presets)


@router.post("/on_figure_operations")
def create_on_figure_operation(body: GenerateOnFigureImagesRequest, request: Request) -> dict[str, str]:
    preset_id = body.on_figure_model_preset_id
    if preset_id is not None and preset_id not in PRESETS:
        raise rejected(
            ("on_figure_model_preset_id",),
            f"unknown preset; GET /on_figure_model_presets lists the {len(PRESETS)} presets",
            preset_id,
        )
    return _create(request, "on_figure", body)


@router.post("/flat_lay_operations")
def create_flat_lay_operation(body: GenerateFlatLayImagesRequest, request: Request) -> dict[str, str]:
    return _create(request, "flat_lay", body)


@router.post("/on_figure_operations/regenerate")
def regenerate_on_figure_operation(body: RegenerateOnFigureImagesRequest, request: Request) -> dict[str, str]:
    state = sim_state(request)
    original_id = body.original_operation_id
    if state.operation(original_id, "flat_lay") is not None:
        raise rejected(
            ("original_operation_id",),
            "regeneration is on-figure only; this is a flat-lay operation, create a new one instead",
            original_id,
        )
    original = state.operation(original_id, "on_figure")
    if original is None:
        raise HTTPException(404, f"no on-figure operation {original_id!r} to regenerate")
    with creation_slot(request):
        operation = state.add_operation(
            "on_figure",
            original.look,
            [image_type.model_dump(mode="json") for image_type in body.image_types],
            body.number_of_generations or original.number_of_generations,
            original.input_ids,
            original.plan.early_error,
            regenerated_from=original.id,
            owner=owner(request),
        )
    return answer(request, {"operation_id": operation.id})


@router.get("/on_figure_operations/{operation_id}")
def get_on_figure_operation(operation_id: str, request: Request) -> dict[str, Any] | None:
    return _operation(request, operation_id, "on_figure")


@router.get("/flat_lay_operations/{operation_id}")
def get_flat_lay_operation(operation_id: str, request: Request) -> dict[str, Any] | None:
    return _operation(request, operation_id, "flat_lay")


def _operation(request: Request, operation_id: str, kind: OperationKind) -> dict[str, Any] | None:
    # The real API answers an unknown id with 200 and null, so the simulator does too; right after
    # a create it may not know the new id yet either, which null_polls_after_create imitates.
    state = sim_state(request)
    operation = state.operation(operation_id, kind)
    if operation is None:
        return None
    poll = state.next_poll(operation)
    if poll <= operation.null_polls:
        return None
    body = operation_json(state, operation, root_url(request))
    if state.settings.extra_answer_fields and poll == operation.null_polls + 1:
        body = probe.with_unknown_status(body)
    return answer(request, body)


def _create(request: Request, kind: OperationKind, body: GenerateRequest) -> dict[str, str]:
    state = sim_state(request)
    with creation_slot(request):
        input_ids, early_error = _inputs(state, body)
        problem = _geometry(state, body)
        operation = state.add_operation(
            kind,
            _look(body),
            [image_type.model_dump(mode="json") for image_type in body.image_types],
            body.number_of_generations,
            input_ids,
            early_error or problem,
            owner=owner(request),
        )
    return answer(request, {"operation_id": operation.id})


def _inputs(state: SimState, body: GenerateRequest) -> tuple[list[str], str | None]:
    """Internal copies of the product images; a download failure fails the operation, not the call."""
    info = body.product_info
    if info.uploaded_image_ids is not None:
        copies = []
        for position, image_id in enumerate(info.uploaded_image_ids):
            image = state.live_image(image_id, "uploaded")
            if image is None or image.data is None:
                raise rejected(
                    ("product_info", "uploaded_image_ids", position),
                    "no uploaded image with this id (never uploaded, or deleted)",
                    image_id,
                )
            copies.append(state.store_image("inputs", image.data, image.extension, image.content_type).id)
        return copies, None
    try:
        fetched = fetch_images(info.image_urls or [], state.settings.download_timeout_seconds)
    except FetchFailed as exc:
        return [], str(exc)
    return [state.store_image("inputs", f.data, f.extension, f.content_type).id for f in fetched], None


def _geometry(state: SimState, body: GenerateRequest) -> str | None:
    """Why the requested size and paddings cannot be drawn; the operation then fails, as a real one would."""
    size = body.output_image_size
    defaults = state.settings
    width, height = (
        (size.width, size.height) if size else (defaults.default_output_width, defaults.default_output_height)
    )
    pads = body.output_image_paddings
    paddings = (pads.top, pads.bottom, pads.left, pads.right) if pads else (0, 0, 0, 0)
    return geometry_problem(width, height, paddings)


def _look(body: GenerateRequest) -> Look:
    info = body.product_info
    background = (
        body.background_settings.model_dump(mode="json")
        if body.background_settings
        else {"background_type": BackgroundType.ARBITRARY.value, "reference_color": None}
    )
    on_figure = isinstance(body, GenerateOnFigureImagesRequest)
    settings = body.on_figure_model_settings if on_figure else None
    return Look(
        product={
            "id": info.id,
            "category": info.category,
            "title": info.title,
            "description": info.description,
        },
        operation_priority=body.operation_priority.value,
        background_settings=background,
        output_image_size=body.output_image_size.model_dump() if body.output_image_size else None,
        output_image_paddings=body.output_image_paddings.model_dump() if body.output_image_paddings else None,
        on_figure_model_preset_id=body.on_figure_model_preset_id if on_figure else None,
        on_figure_model_settings=settings.model_dump(mode="json", exclude_none=True) if settings else None,
    )
