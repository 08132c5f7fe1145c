"""The streaming image check finalize runs on every copied image: it must fail wherever a full decode
fails, pass what decodes, read the size from the header, and hold little memory whatever the size."""

from __future__ import annotations

import io
import random
import struct
import tracemalloc
import warnings
import zlib

import pytest
from PIL import Image

from studio_core.domain.image_check import ImageCheck, NotAnImage, check_image

ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def handmade_png(
    width: int,
    height: int,
    colour: int,
    depth: int,
    *,
    interlace: int = 0,
    seed: int = 1,
    idat_size: int = 50,
) -> bytes:
    """A PNG written from scratch (Pillow cannot write interlaced or 16-bit colour ones)."""
    dice = random.Random(seed)
    bits = CHANNELS[colour] * depth
    raw = bytearray()
    for x0, y0, dx, dy in ADAM7 if interlace else ((0, 0, 1, 1),):
        columns, rows = max(0, -(-(width - x0) // dx)), max(0, -(-(height - y0) // dy))
        if columns and rows:
            for _ in range(rows):
                raw.append(dice.randrange(5))
                raw += bytes(dice.randrange(256) for _ in range(-(-(columns * bits) // 8)))
    stream = zlib.compress(bytes(raw))
    chunks = [png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))]
    if colour == 3:
        chunks.append(png_chunk(b"PLTE", bytes(range(256)) * 3))
    chunks += [png_chunk(b"IDAT", stream[i : i + idat_size]) for i in range(0, len(stream), idat_size)]
    chunks.append(png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def pillow_png(mode: str, size: tuple[int, int], seed: int = 1) -> bytes:
    dice = random.Random(seed)
    source = "RGBA" if mode in ("1", "P") else mode
    pixel_bytes = len(Image.new(source, (1, 1)).tobytes())
    data = bytes(dice.randrange(256) for _ in range(size[0] * size[1] * pixel_bytes))
    picture = Image.frombytes(source, size, data).convert(mode)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def pillow_decodes(data: bytes) -> bool | None:
    """Whether Pillow decodes ``data`` in full; None for a header so large Pillow would allocate GBs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as picture:
                if picture.width * picture.height > 10**6:
                    return None
                picture.load()
        except Exception:
            return False
    return True


def fed_in_pieces(data: bytes, piece: int) -> ImageCheck:
    check = ImageCheck()
    for start in range(0, len(data), piece):
        check.feed(data[start : start + piece])
    return check


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
@pytest.mark.parametrize("piece", [1, 7, 4096, 10**9])
def test_pictures_pillow_writes_pass_with_their_size_however_the_bytes_arrive(mode: str, piece: int) -> None:
    data = pillow_png(mode, (13, 7))

    checked = fed_in_pieces(data, piece).finish()

    assert (checked.width, checked.height, checked.error) == (13, 7, None)


@pytest.mark.parametrize(
    ("colour", "depth"), [(0, 1), (0, 2), (0, 4), (0, 16), (2, 8), (2, 16), (3, 4), (4, 16), (6, 16)]
)
@pytest.mark.parametrize("interlace", [0, 1])
@pytest.mark.parametrize("size", [(1, 1), (3, 2), (17, 9)])
def test_handmade_pictures_that_pillow_decodes_pass(
    colour: int, depth: int, interlace: int, size: tuple[int, int]
) -> None:
    data = handmade_png(*size, colour, depth, interlace=interlace)
    assert pillow_decodes(data)

    checked = fed_in_pieces(data, 5).finish()

    assert (checked.width, checked.height, checked.error) == (*size, None)


@pytest.mark.parametrize("interlace", [0, 1])
def test_every_truncation_fails(interlace: int) -> None:
    data = handmade_png(9, 6, 2, 8, interlace=interlace, idat_size=20)

    for length in range(len(data)):
        assert check_image(data[:length]).error is not None, length


@pytest.mark.parametrize("seed", range(4))
def test_whatever_pillow_cannot_decode_fails_here_too(seed: int) -> None:
    # Given one byte of a good picture changed, at every position in turn (CRCs left as they are,
    # and also fixed up, so the zlib stream and the header are tried for real)
    dice = random.Random(seed)
    good = handmade_png(11, 8, 6, 8, interlace=seed % 2, seed=seed)
    for position in range(8, len(good)):
        broken = bytearray(good)
        broken[position] ^= 1 << dice.randrange(8)
        for candidate in (bytes(broken), _with_fixed_crcs(bytes(broken))):
            # Then whenever a full decode fails, the check reports an error
            if pillow_decodes(candidate) is False:
                assert check_image(candidate).error is not None, position


def test_a_bad_filter_type_and_a_bad_crc_are_named() -> None:
    good = handmade_png(4, 4, 0, 8)
    raw = bytearray(zlib.decompress(_idat(good)))
    raw[5] = 9  # the second row's filter type
    bad_filter = _replace_idat(good, zlib.compress(bytes(raw)))
    bad_crc = good[:-1] + bytes([good[-1] ^ 1])

    assert "unknown filter type 9" in (check_image(bad_filter).error or "")
    assert "bad CRC" in (check_image(bad_crc).error or "")
    assert (check_image(bad_crc).width, check_image(bad_crc).height) == (4, 4)


def test_other_formats_are_decoded_and_broken_ones_fail() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="JPEG")
    jpeg = buffer.getvalue()

    assert check_image(jpeg) == check_image(jpeg[: 10**6])
    assert (check_image(jpeg).width, check_image(jpeg).height, check_image(jpeg).error) == (64, 48, None)
    assert check_image(jpeg[: len(jpeg) // 2]).error is not None
    assert (check_image(b"not an image at all").error or "").startswith("not a decodable image")
    assert check_image(b"").error == "not a decodable image: the file is empty"
    assert check_image(b"\x89PNG").error is not None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG or XML text"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML or other markup"),
        (b"GIF89a\x01\x00\x01\x00", "it is a GIF"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip-compressed data"),
        (b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b", "it starts with the bytes 00 01 02 03"),
    ],
)
def test_anything_but_jpeg_png_or_webp_fails_at_its_first_bytes(data: bytes, reason: str) -> None:
    # Given a check fed the first bytes of a file, then a long tail
    check = ImageCheck()
    check.feed(data)
    check.feed(b"x" * 100_000)

    # Then it has failed already, named what the file is, and held none of the tail
    error = check.finish().error or ""
    assert error.startswith("not a decodable image: the file is not a JPEG, PNG or WebP image (")
    assert reason in error


def test_the_content_type_comes_from_the_bytes() -> None:
    for name, data in (("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buffer, format=name)
        check = ImageCheck()
        for byte in buffer.getvalue()[:12]:  # one byte at a time: undecided, then known
            check.feed(bytes([byte]))
        assert check.content_type == data


def test_passing_stops_at_the_first_failed_check() -> None:
    pieces = iter([b"<svg>", b"x" * 1000, b"y" * 1000])
    check = ImageCheck()
    passing = check.passing(pieces)
    with pytest.raises(NotAnImage, match="SVG or XML text"):
        next(passing)
    assert next(pieces) == b"x" * 1000  # it read no piece past the first


def test_a_damaged_jpeg_is_named_in_words_without_pythons_object_names() -> None:
    error = check_image(b"\xff\xd8\xff" + b"\x00" * 500).error or ""

    assert error == "not a decodable image: the JPEG file could not be read (its header is damaged)"
    assert "object at 0x" not in error


def test_memory_stays_small_for_a_picture_that_inflates_to_48_mib() -> None:
    # Given a 4096x3072 RGBA picture (48 MiB of pixels, a few hundred KiB as a file)
    buffer = io.BytesIO()
    Image.new("RGBA", (4096, 3072), (10, 200, 30, 255)).save(buffer, format="PNG", compress_level=1)
    data = buffer.getvalue()

    # When it is checked in 256 KiB pieces
    tracemalloc.start()
    try:
        checked = fed_in_pieces(data, 256 * 1024).finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then it passes, and the check held about one inflated piece, not the picture
    assert (checked.width, checked.height, checked.error) == (4096, 3072, None)
    assert peak < 2 * 1024 * 1024


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    found, at = [], 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        found.append((kind, data[at + 8 : at + 8 + length]))
        at += 12 + length
    return found


def _idat(data: bytes) -> bytes:
    return b"".join(body for kind, body in _chunks(data) if kind == b"IDAT")


def _replace_idat(data: bytes, stream: bytes) -> bytes:
    chunks = [(k, b) for k, b in _chunks(data) if k != b"IDAT"]
    chunks.insert(-1, (b"IDAT", stream))
    return data[:8] + b"".join(png_chunk(k, b) for k, b in chunks)


def _with_fixed_crcs(data: bytes) -> bytes:
    try:
        return data[:8] + b"".join(png_chunk(kind, body) for kind, body in _chunks(data))
    except (struct.error, ValueError):
        return data
