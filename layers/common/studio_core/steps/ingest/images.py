"""The photos of a folder must open as images before anything is sent to Aiuta."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from studio_core.aws.storage import Storage


def first_unreadable_image(storage: Storage, keys: list[str]) -> str | None:
    """What is wrong with the first photo that does not open, or None when every one does."""
    for key in keys:
        try:
            with Image.open(io.BytesIO(storage.read_bytes(key))) as picture:
                picture.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            name = key.rsplit("/", 1)[-1]
            return f"{name} is not a readable image ({exc}); replace it with a JPEG, PNG or WebP photo"
    return None
