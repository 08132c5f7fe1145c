"""The photos of a folder must open as images before anything is sent to Aiuta; a HEIC photo
is handed to Aiuta as the JPEG made from it."""

from __future__ import annotations

from studio_core.aws.storage import Storage
from studio_core.domain.keys import converted_photo_key, needs_conversion
from studio_core.domain.photos import as_jpeg, photo_problem


def first_unreadable_image(storage: Storage, keys: list[str]) -> str | None:
    """What is wrong with the first photo that cannot be used, or None when every one can."""
    for key in keys:
        problem = photo_problem(key.rsplit("/", 1)[-1], storage.read_bytes(key))
        if problem:
            return problem
    return None


def aiuta_inputs(storage: Storage, keys: list[str], product_id: str, job_id: str) -> list[str]:
    """The keys Aiuta is given: each photo as it is, a HEIC one as its JPEG (made once, in the
    job's folder outside inbox/, so it starts nothing)."""
    inputs = []
    for key in keys:
        if not needs_conversion(key):
            inputs.append(key)
            continue
        converted = converted_photo_key(product_id, job_id, key)
        if not storage.exists(converted):
            storage.put_bytes(converted, as_jpeg(storage.read_bytes(key)), "image/jpeg")
        inputs.append(converted)
    return inputs
