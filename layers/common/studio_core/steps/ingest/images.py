"""A HEIC photo is handed to Aiuta as the JPEG made from it (Aiuta takes JPEG, PNG and WebP)."""

from __future__ import annotations

from studio_core.aws.storage import Storage
from studio_core.domain.keys import converted_photo_key, needs_conversion
from studio_core.domain.photos import as_jpeg


def aiuta_input(storage: Storage, key: str, data: bytes, product_id: str, checksum: str) -> str:
    """The key Aiuta is given for the photo at ``key``: itself, or (HEIC) its JPEG, made once and
    kept under the photo's checksum outside inbox/, so it starts nothing and serves every job."""
    if not needs_conversion(key):
        return key
    converted = converted_photo_key(product_id, checksum)
    if not storage.exists(converted):
        storage.put_bytes(converted, as_jpeg(data), "image/jpeg")
    return converted
