"""The tolerant-reading probe (``extra_answer_fields``): answers carrying what a newer API might send.

A client that reads Aiuta's answers strictly breaks the day Aiuta adds a field or an enum value.
With the probe on, every successful JSON answer of ``/studio/v1`` carries, on top of the contract:

- ``"sim_extra": EXTRA_VALUE`` in every JSON object, however deeply nested (operations, their
  product info, settings, image types and results, images, presets and their settings, the
  ``{"operation_id": ...}`` of a create);
- ``"hair_color": "sim_teal"`` in the settings of the first preset of ``GET /on_figure_model_presets``;
- ``"status": "QUEUED_SIM"`` instead of ``CREATED`` in the first answer that shows an operation
  (the first read after any ``null_polls_after_create`` nulls); later reads say ``CREATED``.

Error answers, ``null`` answers, ``/_sim/`` and ``/files/`` are left alone.
"""

from __future__ import annotations

from typing import Any

from studio_core.aiuta.answers import OperationStatus

EXTRA_FIELD = "sim_extra"
EXTRA_VALUE = "a field the API contract does not define, added by the simulator's extra_answer_fields"
UNKNOWN_HAIR_COLOR = "sim_teal"
UNKNOWN_STATUS = "QUEUED_SIM"


def with_extra_fields(value: Any) -> Any:
    """``value`` (decoded JSON) with ``EXTRA_FIELD`` added to every object in it; the input is not changed."""
    if isinstance(value, dict):
        return {**{key: with_extra_fields(item) for key, item in value.items()}, EXTRA_FIELD: EXTRA_VALUE}
    if isinstance(value, list):
        return [with_extra_fields(item) for item in value]
    return value


def with_unknown_hair_color(presets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The preset list with an enum value the contract does not list in the first preset's settings."""
    if not presets:
        return presets
    first = {**presets[0], "settings": {**presets[0]["settings"], "hair_color": UNKNOWN_HAIR_COLOR}}
    return [first, *presets[1:]]


def with_unknown_status(operation: dict[str, Any]) -> dict[str, Any]:
    """The operation with ``QUEUED_SIM`` in place of ``CREATED`` (any other status is kept)."""
    if operation.get("status") != OperationStatus.CREATED.value:
        return operation
    return {**operation, "status": UNKNOWN_STATUS}
