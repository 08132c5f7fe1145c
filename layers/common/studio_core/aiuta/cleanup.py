"""Deleting a job's images at Aiuta once they are copied (``delete_at_aiuta_after_copy``).

Finalize and the review both delete; a module of its own, so that the review does not load
finalize's copy (``requests``, the downloads and image checks) for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from studio_core.aiuta.answers import OwnerType
from studio_core.domain.errors import AiutaError, AiutaNotFound
from studio_core.domain.record import ImageRecord
from studio_core.domain.state import JobState

if TYPE_CHECKING:  # the client (and requests) is loaded by the review's first clean-up
    from studio_core.aiuta.client import AiutaStudioClient


def delete_at_aiuta(state: JobState, images: list[ImageRecord], client: AiutaStudioClient) -> list[str]:
    """Deletes the job's inputs and generated images at Aiuta; returns what could not be deleted.

    An image Aiuta no longer has is deleted already (a replayed copy deletes twice)."""
    problems = []
    for image_id in state.uploaded_image_ids:
        try:
            client.delete_uploaded_image(image_id)
        except AiutaNotFound:
            pass
        except AiutaError as exc:
            problems.append(str(exc))
    for image in images:
        if image.owner_type is not OwnerType.USER:
            continue
        try:
            client.delete_generated_image(image.aiuta_image_id)
        except AiutaNotFound:
            pass
        except AiutaError as exc:
            problems.append(str(exc))
    return problems
