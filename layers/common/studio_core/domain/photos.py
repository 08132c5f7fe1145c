"""Is an input photo something Aiuta can use? One readable sentence when it is not.

Checked at ingest, before anything is sent to Aiuta: the file is not empty, is a JPEG, PNG or
WebP (whatever its name says), its size is within bounds, and it decodes to the end (a truncated
or corrupt file fails here, not as a FAILED operation an hour later). The size is read from the
header before any decoding, so a "decompression bomb" (a few KB of PNG claiming 20,000 x 20,000
pixels) is refused without allocating it. Messages never carry Python reprs.

An iPhone's HEIC (HEIF) photo is accepted too, checked the same way, and ``as_jpeg`` converts it
for Aiuta (which takes JPEG, PNG and WebP), upright as the phone showed it. HEIF is read with
pillow-heif (libheif), loaded with the first HEIC photo.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Pillow loads with the first photo checked, not with every ingest batch
    from PIL import Image

FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC"}
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1")
JPEG_QUALITY = 92  # a converted HEIC photo: visually lossless, a third of a PNG's size
MIN_SIDE = 64
MAX_SIDE = 16_384  # WebP's own limit; no product photo comes near it
MAX_PIXELS = 40_000_000  # a 40-megapixel photo; more only costs memory and upload time
_PIXELS_IN_MESSAGE = re.compile(r"\((\d+) pixels\)")


def photo_problem(name: str, data: bytes) -> str | None:
    """What is wrong with the photo ``name`` (its bytes ``data``), or None when it can be used."""
    if not data:
        return f"{name} is empty (0 bytes); upload the photo again"
    from PIL import Image, UnidentifiedImageError

    if _is_heif(data) and not _heif_readable():
        return (
            f"{name} is an iPhone HEIC photo, and this installation lacks pillow-heif to convert it: "
            "export it as JPEG (iPhone: Settings > Camera > Formats > Most Compatible; macOS: "
            "sips -s format jpeg IN.HEIC --out OUT.jpg)"
        )

    with warnings.catch_warnings():
        # Pillow warns past ~89 MP and refuses past twice that; the limits here are lower anyway.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as picture:
                return _checked(name, picture)
        except Image.DecompressionBombError as exc:
            found = _PIXELS_IN_MESSAGE.search(str(exc))
            size = f" ({int(found.group(1)) / 1e6:,.0f} megapixels)" if found else ""
            return f"{name} is far too large{size}; photos may have at most {MAX_PIXELS / 1e6:g} megapixels"
        except UnidentifiedImageError:
            if _is_heif(data):
                return f"{name} could not be read as a HEIC photo; it is truncated or corrupt"
            return f"{name} is not a JPEG, PNG or WebP image{_looks_like(data)}; replace it with a photo"
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            return f"{name} could not be read to the end ({_reason(exc)}); it is truncated or corrupt"


def _checked(name: str, picture: Image.Image) -> str | None:
    kind = FORMATS.get(picture.format or "")
    if kind is None:
        return f"{name} is a {picture.format or 'unknown'} file; use a JPEG, PNG or WebP photo"
    width, height = picture.size
    if min(width, height) < MIN_SIDE:
        return (
            f"{name} is only {width}x{height} pixels; photos need at least {MIN_SIDE} pixels on each "
            "side for Aiuta to see the product"
        )
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        return (
            f"{name} is {width}x{height} pixels ({width * height / 1e6:,.0f} megapixels); photos may have "
            f"at most {MAX_PIXELS / 1e6:g} megapixels and {MAX_SIDE} pixels a side: scale it down"
        )
    if kind == "JPEG":
        # Every coefficient is still read at 1/8 scale, which is what finds a truncated file.
        picture.draft("RGB", (max(1, width // 8), max(1, height // 8)))
    picture.load()
    return None


def as_jpeg(data: bytes) -> bytes:
    """A photo (a HEIC one, checked by ``photo_problem`` first) as a JPEG, turned upright."""
    from PIL import Image, ImageOps

    _heif_readable()
    with Image.open(io.BytesIO(data)) as picture:
        upright = ImageOps.exif_transpose(picture).convert("RGB")
    buffer = io.BytesIO()
    upright.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _is_heif(data: bytes) -> bool:
    # ISO BMFF: a box "ftyp" at byte 4, then a HEIF brand.
    return data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS


_heif: list[bool] = []


def _heif_readable() -> bool:
    """Lets Pillow open HEIC/HEIF (once per process); False without pillow-heif."""
    if not _heif:
        try:
            from pillow_heif import register_heif_opener
        except ImportError:
            _heif.append(False)
        else:
            register_heif_opener()
            _heif.append(True)
    return _heif[0]


def _looks_like(data: bytes) -> str:
    head = data[:512]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    return " (it is text)" if text.isprintable() or "\n" in text else ""


def _reason(exc: BaseException) -> str:
    message = str(exc).strip()
    # Pillow's messages can end in a repr of the buffer it read from; keep the words only.
    message = re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>", "", message)
    return message or type(exc).__name__
