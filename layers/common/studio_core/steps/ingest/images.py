"""The photos of a folder must open as images before anything is sent to Aiuta."""

from __future__ import annotations

from studio_core.aws.storage import Storage
from studio_core.domain.photos import photo_problem


def first_unreadable_image(storage: Storage, keys: list[str]) -> str | None:
    """What is wrong with the first photo that cannot be used, or None when every one can."""
    for key in keys:
        problem = photo_problem(key.rsplit("/", 1)[-1], storage.read_bytes(key))
        if problem:
            return problem
    return None
