"""iPhone photos (HEIC) are photos: checked like the others, converted to JPEG for Aiuta."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from studio_core.domain.keys import KeyKind, classify_key, converted_photo_key, needs_conversion
from studio_core.domain.photos import as_jpeg, photo_problem


def heic(size: tuple[int, int] = (300, 400), orientation: int | None = None) -> bytes:
    """A HEIC photo, as an iPhone writes one (with the EXIF orientation it shows it by)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    picture = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    picture.save(buffer, format="HEIF", quality=80, exif=exif.tobytes())
    return buffer.getvalue()


def test_a_heic_photo_is_a_photo_of_the_folder() -> None:
    assert photo_problem("IMG_0001.HEIC", heic()) is None
    assert classify_key("inbox/sku-1/IMG_0001.HEIC").kind is KeyKind.IMAGE
    assert needs_conversion("inbox/sku-1/IMG_0001.HEIC") and not needs_conversion("inbox/sku-1/a.jpg")


def test_a_heic_photo_becomes_an_upright_jpeg_for_aiuta() -> None:
    # Given a portrait shot stored sideways, as a phone stores it (EXIF orientation 6)
    converted = as_jpeg(heic((400, 300), orientation=6))

    # Then Aiuta gets a JPEG, upright
    with Image.open(io.BytesIO(converted)) as picture:
        assert picture.format == "JPEG"
        assert picture.size == (300, 400)
    # outside inbox/ (it starts nothing), named by the photo's content (every job of it shares it)
    assert converted_photo_key("sku-1", "ab" * 32) == f"outbox/sku-1/converted/{'ab' * 16}.jpg"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (lambda photo: photo[: len(photo) // 2], "IMG_0001.HEIC could not be read"),
        (lambda photo: heic((40, 40)), "IMG_0001.HEIC is only 40x40 pixels"),
    ],
)
def test_a_broken_or_tiny_heic_photo_is_named_like_any_other(data: object, expected: str) -> None:
    problem = photo_problem("IMG_0001.HEIC", data(heic()))  # type: ignore[operator]

    assert problem is not None and problem.startswith(expected)
