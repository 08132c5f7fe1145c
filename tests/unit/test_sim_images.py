"""The simulator's pictures: honest about the request, different per variant, cheap to make."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from PIL import Image, ImageChops, ImageStat

from studio_cli.samples import product_photo
from studio_sim.images import NotAnImage, RenderSpec, geometry_problem, inspect_image, render

PHOTO = product_photo("tshirt", (30, 90, 160))


def spec(**changes: object) -> RenderSpec:
    base = RenderSpec(
        product=PHOTO,
        width=240,
        height=320,
        paddings=(20, 20, 30, 30),
        background_type="arbitrary",
        reference_color=None,
        label="front/standing",
        variant=1,
        variants=2,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_the_output_has_the_requested_size_and_is_a_png() -> None:
    image = picture(render(spec(width=300, height=200)))

    assert image.format == "PNG"
    assert image.size == (300, 200)


def test_the_product_stays_inside_the_paddings() -> None:
    # Given wide paddings on a plain studio backdrop, the product's pixels stay inside them
    image = picture(render(spec(paddings=(60, 60, 70, 70), label="x"))).convert("RGB")
    backdrop = picture(render(spec(product=_blank(), paddings=(60, 60, 70, 70), label="x"))).convert("RGB")

    changed = ImageChops.difference(image, backdrop).convert("L").point(lambda v: 255 if v > 40 else 0)
    left, top, right, bottom = changed.getbbox() or (0, 0, 0, 0)

    assert left >= 70 - 2 and right <= 240 - 70 + 2
    assert top >= 60 - 2 and bottom <= 320 - 60 + 2


def test_a_transparent_background_has_real_alpha() -> None:
    image = picture(render(spec(background_type="transparent")))

    assert image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 0
    assert image.getpixel((120, 160))[3] == 255


def test_a_reference_colour_background_is_a_gradient_built_on_that_colour() -> None:
    image = picture(render(spec(background_type="reference_color", reference_color="#3a7bd5"))).convert("RGB")
    top, bottom = image.getpixel((120, 2)), image.getpixel((120, 318))

    assert top != bottom
    assert image.getpixel((2, 160)) != image.getpixel((120, 160))
    # The blue channel leads, as it does in the reference colour.
    assert max(range(3), key=lambda c: bottom[c]) == 2


def test_variants_of_one_image_type_differ() -> None:
    first = picture(render(spec(variant=1))).convert("RGB")
    second = picture(render(spec(variant=2))).convert("RGB")

    assert ImageStat.Stat(ImageChops.difference(first, second)).mean != [0.0, 0.0, 0.0]


def test_the_image_type_changes_the_picture() -> None:
    front = picture(render(spec(label="front/standing"))).convert("RGB")
    back = picture(render(spec(label="back/walking"))).convert("RGB")

    assert ImageChops.difference(front, back).getbbox() is not None


@pytest.mark.parametrize(
    ("size", "paddings", "problem"),
    [
        ((768, 1024), (0, 0, 0, 0), None),
        ((8, 1024), (0, 0, 0, 0), "outside"),
        ((768, 100_000), (0, 0, 0, 0), "outside"),
        ((200, 200), (0, 0, 100, 100), "no room"),
        ((200, 200), (-1, 0, 0, 0), "negative"),
    ],
)
def test_impossible_geometry_is_named(
    size: tuple[int, int], paddings: tuple[int, int, int, int], problem: str | None
) -> None:
    found = geometry_problem(*size, paddings)

    assert (found is None) if problem is None else (problem in (found or ""))


def test_inspect_image_reports_format_and_size() -> None:
    decoded = inspect_image(PHOTO)

    assert (decoded.extension, decoded.content_type, decoded.width, decoded.height) == (
        "jpg",
        "image/jpeg",
        300,
        360,
    )


@pytest.mark.parametrize("data", [b"", b"not an image at all", PHOTO[:200]])
def test_undecodable_bytes_are_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(NotAnImage):
        inspect_image(data)


def _blank() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 360), (236, 233, 228)).save(buffer, format="PNG")
    return buffer.getvalue()
