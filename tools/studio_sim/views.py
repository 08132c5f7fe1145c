"""The JSON the simulator answers with, shaped like the Studio API's response schemas."""

from __future__ import annotations

from typing import Any

from studio_core.aiuta.answers import OperationStatus, OwnerType
from studio_sim.state import SimOperation, SimState, StoredImage
from studio_sim.timeline import iso


def image_json(image: StoredImage, root_url: str) -> dict[str, Any]:
    """An ``AiutaImage``: everything the simulator stores belongs to the caller, hence ``user``."""
    return {
        "id": image.id,
        "owner_type": OwnerType.USER.value,
        "url": root_url + image.path,
        "expires_at": iso(image.expires_at) if image.expires_at is not None else None,
    }


def operation_json(state: SimState, operation: SimOperation, root_url: str) -> dict[str, Any]:
    """A ``Generate{OnFigure,FlatLay}ImagesOperation`` as seen right now on the sim clock."""
    status = state.status_of(operation)
    look = operation.look
    with state.lock:
        inputs = [state.images[image_id] for image_id in operation.input_ids]
    body: dict[str, Any] = {
        "id": operation.id,
        "status": status.value,
        "error": operation.plan.error_for(status),
        # Inputs always come back as internal URLs, whichever way they were given.
        "product_info": {**look.product, "image_urls": [root_url + image.path for image in inputs]},
        "operation_priority": look.operation_priority,
        "number_of_generations": operation.number_of_generations,
        "background_settings": look.background_settings,
        "output_image_size": look.output_image_size,
        "output_image_paddings": look.output_image_paddings,
        "image_types": operation.image_types,
    }
    if operation.kind == "on_figure":
        body["on_figure_model_preset_id"] = look.on_figure_model_preset_id
        body["on_figure_model_settings"] = look.on_figure_model_settings
    body["generation_result"] = (
        _results(state, operation, root_url) if status is OperationStatus.SUCCESS else None
    )
    return body


def _results(state: SimState, operation: SimOperation, root_url: str) -> list[dict[str, Any]]:
    rows = state.results_of(operation)
    return [
        {"image_type": image_type, "generated_images": [image_json(image, root_url) for image in row]}
        for image_type, row in zip(operation.image_types, rows, strict=True)
    ]
