"""The IPTC AI label in JPEG, PNG and WebP files: written without touching the pixels, and read back
by readers that are not ours (Pillow's container parsers, and Debian's exiftool when installed:
`make test` installs it with apt-get, as it installs chromium)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from studio_core.domain.xmp import (
    DIGITAL_SOURCE_TYPE,
    UnsupportedImage,
    image_format,
    label_as_ai_generated,
)

EXIFTOOL = shutil.which("exiftool")


def picture(fmt: str, **options: object) -> bytes:
    image = Image.new("RGBA" if options.pop("alpha", False) else "RGB", (64, 48))
    for x in range(64):
        for y in range(48):
            image.putpixel((x, y), (x * 4, y * 5, (x + y) * 2) + ((200,) if image.mode == "RGBA" else ()))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


FILES = {
    "jpeg": lambda: picture("JPEG", quality=90),
    "jpeg-exif": lambda: picture("JPEG", quality=90, exif=Image.Exif()),
    "png": lambda: picture("PNG"),
    "png-alpha": lambda: picture("PNG", alpha=True),
    "webp-lossy": lambda: picture("WEBP", quality=80),
    "webp-lossless-alpha": lambda: picture("WEBP", lossless=True, alpha=True),
    "webp-extended": lambda: picture("WEBP", quality=80, alpha=True),  # lossy + alpha: VP8X already
}


def pillow_xmp(data: bytes) -> str:
    """The XMP packet as Pillow's own parser of the container finds it."""
    with Image.open(io.BytesIO(data)) as image:
        raw = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or b""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def decoded(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        return image.mode, image.size, image.tobytes()


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_label_is_added_and_the_pixels_are_the_same(name: str) -> None:
    # Given a generated image without metadata
    original = FILES[name]()
    assert DIGITAL_SOURCE_TYPE not in pillow_xmp(original)

    # When it is labelled
    labelled = label_as_ai_generated(original)

    # Then Pillow finds the IPTC digital source type in its XMP
    assert DIGITAL_SOURCE_TYPE in pillow_xmp(labelled)
    assert "Iptc4xmpExt:DigitalSourceType" in pillow_xmp(labelled)
    # And the image decodes to exactly the same pixels (nothing was re-encoded), same format
    assert decoded(labelled) == decoded(original)
    assert image_format(labelled) == image_format(original)
    # And it grew by the packet only
    assert 0 < len(labelled) - len(original) < 1200


@pytest.mark.parametrize("name", sorted(FILES))
def test_labelling_twice_changes_nothing(name: str) -> None:
    once = label_as_ai_generated(FILES[name]())
    assert label_as_ai_generated(once) == once


def test_an_existing_xmp_packet_keeps_its_properties() -> None:
    # Given a PNG with an XMP packet of its own (a title)
    own = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image/png"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", own)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, "PNG", pnginfo=info)

    # When it is labelled
    packet = pillow_xmp(label_as_ai_generated(buffer.getvalue()))

    # Then its one packet says both
    assert 'dc:format="image/png"' in packet
    assert DIGITAL_SOURCE_TYPE in packet
    assert packet.count("<x:xmpmeta") == 1


def test_a_file_that_is_not_an_image_is_refused_with_the_reason() -> None:
    with pytest.raises(UnsupportedImage, match="not a JPEG, PNG or WebP"):
        label_as_ai_generated(b"GIF89a....")
    with pytest.raises(UnsupportedImage, match="damaged PNG"):
        label_as_ai_generated(picture("PNG")[:40])


@pytest.mark.parametrize("name", sorted(FILES))
def test_exiftool_reads_the_digital_source_type(name: str, tmp_path: Path) -> None:
    if EXIFTOOL is None:
        message = "exiftool is missing: `make exiftool` installs Debian's libimage-exiftool-perl"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    # Given a labelled file
    path = tmp_path / f"{name}.img"
    path.write_bytes(label_as_ai_generated(FILES[name]()))

    # When exiftool (an independent reader) reads its XMP
    done = subprocess.run(  # noqa: S603 - Debian's exiftool on our own file
        [EXIFTOOL, "-json", "-XMP-iptcExt:DigitalSourceType", "-Warning", "-Error", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    [found] = json.loads(done.stdout)

    # Then it finds the value Merchant Center asks for, and no problem with the file
    assert found["DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert "Warning" not in found and "Error" not in found
