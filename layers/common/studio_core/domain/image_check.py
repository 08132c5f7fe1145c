"""Is a generated image whole, and how large is it? Checked as its bytes stream past, in bounded memory.

A PNG (what Aiuta sends) is checked the way a decoder fails on it, without holding the picture:
the signature; every chunk's length, type and CRC; IHDR's fields; a PLTE where the colour type
needs one; the IDAT chunks' zlib stream inflated piece by piece, each scanline's filter type
checked and the scanlines counted against IHDR (an interlaced image pass by pass); IEND. What a
full decode adds is arithmetic that cannot fail (unfiltering, expanding pixels). The memory is one
inflated piece (``INFLATE_PIECE_BYTES``) whatever the picture's size, where a full decode of a
3072x4096 RGBA PNG holds 48 MiB, per image being copied.

Only JPEG, PNG and WebP are images here, told by their first bytes (never by what a server
claims): anything else (an SVG with a script, an HTML page, 64 MiB of noise) fails at its first
bytes. A JPEG or WebP is spooled (memory, then /tmp) and decoded with Pillow once it has arrived,
a JPEG at 1/8 scale (every coefficient is still read), at most ``FULL_DECODES_AT_ONCE`` at a time.
``passing`` stops the stream at the first failed check (``NotAnImage``), so a caller that
uploads what passes stores nothing of a file that is not a whole image.
"""

from __future__ import annotations

import math
import re
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The formats a copy stores, by their first bytes, and the content type each is stored with.
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_SIGNATURES = {"png": (0, PNG_SIGNATURE), "jpeg": (0, b"\xff\xd8\xff")}
INFLATE_PIECE_BYTES = 256 * 1024
# Pillow refuses pictures past twice its MAX_IMAGE_PIXELS (DecompressionBombError); so does this.
MAX_PIXELS = 2 * 89_478_485
# A chunk longer than this is an error in the PNG specification (2^31 - 1).
MAX_CHUNK_LENGTH = 2**31 - 1
OTHER_FORMAT_IN_MEMORY_BYTES = 2 * 1024 * 1024
FULL_DECODES_AT_ONCE = 2
_FULL_DECODES = threading.BoundedSemaphore(FULL_DECODES_AT_ONCE)

# colour type -> (channels, allowed bit depths)
_COLOUR_TYPES = {
    0: (1, (1, 2, 4, 8, 16)),
    2: (3, (8, 16)),
    3: (1, (1, 2, 4, 8)),
    4: (2, (8, 16)),
    6: (4, (8, 16)),
}
# Adam7: (first column, first row, column step, row step) of each pass
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


@dataclass(frozen=True)
class CheckedImage:
    """The verdict: the picture's size when its header could be read, and why it is broken, if it is."""

    width: int | None
    height: int | None
    error: str | None


class _Broken(Exception):
    """The first problem found; the check stops there."""


class NotAnImage(Exception):
    """Raised by ``ImageCheck.passing`` at the first failed check: the file is not a whole image."""


class ImageCheck:
    """Feed it an image's bytes in order (``feed`` or ``passing``), then ask ``finish()``."""

    def __init__(self) -> None:
        self._size: tuple[int, int] | None = None
        self._error: str | None = None
        self._format: str | None = None  # "png", "jpeg", "webp"; None until the signature is in
        self._received = 0
        self._png: _PngStream | None = None
        self._other: IO[bytes] | None = None
        self._head = bytearray()

    @property
    def size(self) -> tuple[int, int] | None:
        """The picture's width and height, once its header (a PNG's) or its decode (others) is in."""
        return self._size

    @property
    def content_type(self) -> str | None:
        """The content type the bytes show (``image/png``...), once their first bytes are in."""
        return CONTENT_TYPES.get(self._format or "")

    def passing(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks`` unchanged, each one checked on its way through; raises ``NotAnImage`` at the
        first failed check, and after the last chunk unless the whole file is a good image (so a
        caller's upload of what passes never completes with a bad file)."""
        for chunk in chunks:
            self.feed(chunk)
            if self._error is not None:
                self.close()
                raise NotAnImage(f"not a decodable image: {self._error}")
            yield chunk
        verdict = self.finish()
        if verdict.error is not None:
            raise NotAnImage(verdict.error)

    def feed(self, data: bytes) -> None:
        self._received += len(data)
        if self._error is not None or not data:
            return
        if self._format is None:
            self._head += data
            found = sniff_format(bytes(self._head))
            if found is _UNDECIDED:
                return
            data, self._head = bytes(self._head), bytearray()
            if found is None:
                self._error = f"the file is not a JPEG, PNG or WebP image ({describe_start(data)})"
                return
            self._format = found
            if found == "png":
                self._png = _PngStream()
                data = data[len(PNG_SIGNATURE) :]
            else:
                self._other = tempfile.SpooledTemporaryFile(max_size=OTHER_FORMAT_IN_MEMORY_BYTES)  # noqa: SIM115
        if self._png is not None:
            try:
                self._png.feed(data)
            except _Broken as exc:
                self._error = str(exc)
            self._size = self._png.size
        elif self._other is not None:
            self._other.write(data)

    def finish(self) -> CheckedImage:
        if self._error is None:
            if self._received == 0:
                self._error = "the file is empty"
            elif self._png is not None:
                try:
                    self._png.finish()
                except _Broken as exc:
                    self._error = str(exc)
            elif self._other is not None:
                self._size, self._error = _decode_with_pillow(self._other, self._format or "")
            else:
                self._error = f"the file ends after {self._received} bytes, before its format shows"
        self.close()
        width, height = self._size or (None, None)
        return CheckedImage(
            width, height, None if self._error is None else f"not a decodable image: {self._error}"
        )

    def close(self) -> None:
        """Lets go of the spool of a non-PNG file (``finish`` does it; call it when giving up early)."""
        if self._other is not None:
            self._other.close()
            self._other = None


def check_image(data: bytes) -> CheckedImage:
    """The check of a whole file at once (tests, small files)."""
    check = ImageCheck()
    check.feed(data)
    return check.finish()


class _PngStream:
    """The chunks after the signature, parsed as they arrive."""

    def __init__(self) -> None:
        self.size: tuple[int, int] | None = None
        self._pending = bytearray()  # a chunk header or CRC still being received
        self._want = 8  # bytes of header (8) or CRC (4) wanted, 0 while inside chunk data
        self._type = b""
        self._left = 0  # chunk data bytes still to come
        self._crc = 0
        self._ihdr = bytearray()
        self._seen: list[bytes] = []
        self._colour = 0
        self._palette = False
        self._idat_done = False
        self._ended = False
        self._inflater = zlib.decompressobj()
        self._inflated = 0
        self._expected = 0
        self._rows: Iterator[int] = iter(())  # byte offset of each scanline's filter type, in order
        self._next_row: int | None = None

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        at = 0
        while at < len(view) and not self._ended:
            if self._want:
                take = min(self._want - len(self._pending), len(view) - at)
                self._pending += view[at : at + take]
                at += take
                if len(self._pending) == self._want:
                    fixed, self._pending = bytes(self._pending), bytearray()
                    self._header(fixed) if self._want == 8 else self._check_crc(fixed)
            else:
                take = min(self._left, len(view) - at)
                self._data(view[at : at + take])
                at += take
                self._left -= take
                if self._left == 0:
                    self._want = 4

    def finish(self) -> None:
        if not self._ended:
            where = f"inside chunk {self._name()}" if self._type else "before IEND"
            raise _Broken(f"the PNG file is truncated ({where})")

    def _name(self) -> str:
        return self._type.decode("latin-1")

    def _header(self, header: bytes) -> None:
        length, kind = struct.unpack(">I4s", header)
        if not all(65 <= c <= 90 or 97 <= c <= 122 for c in kind):
            raise _Broken(f"the PNG file has a chunk with an invalid type {kind!r}")
        if length > MAX_CHUNK_LENGTH:
            raise _Broken(f"PNG chunk {kind.decode()} claims {length} bytes")
        self._type, self._left, self._crc = kind, length, zlib.crc32(kind)
        self._start_chunk(length)
        self._want = 0 if length else 4

    def _start_chunk(self, length: int) -> None:
        kind, name = self._type, self._name()
        if not self._seen and kind != b"IHDR":
            raise _Broken(f"the PNG file starts with {name}, not IHDR")
        if kind == b"IHDR":
            if self._seen:
                raise _Broken("the PNG file has a second IHDR")
            if length != 13:
                raise _Broken(f"PNG chunk IHDR has {length} bytes, not 13")
        elif kind == b"PLTE":
            if b"IDAT" in self._seen or self._palette:
                raise _Broken("PNG chunk PLTE is out of place")
            if length == 0 or length % 3 or length > 3 * 256:
                raise _Broken(f"PNG chunk PLTE has {length} bytes")
            self._palette = True
        elif kind == b"IDAT":
            if self._idat_done:
                raise _Broken("the PNG file's IDAT chunks are not consecutive")
            if not self._seen or self._seen[-1] != b"IDAT":
                self._before_image_data()
        elif kind == b"IEND":
            if b"IDAT" not in self._seen:
                raise _Broken("the PNG file has no image data (IDAT)")
        elif not kind[0] & 0x20:
            raise _Broken(f"the PNG file has an unknown critical chunk {name}")
        if self._seen and self._seen[-1] == b"IDAT" and kind != b"IDAT":
            self._idat_done = True
            self._end_of_image_data()
        self._seen.append(kind)

    def _data(self, piece: memoryview) -> None:
        self._crc = zlib.crc32(piece, self._crc)
        if self._type == b"IHDR":
            self._ihdr += piece
        elif self._type == b"IDAT":
            self._inflate(piece)

    def _check_crc(self, stored: bytes) -> None:
        if struct.unpack(">I", stored)[0] != self._crc:
            raise _Broken(f"PNG chunk {self._name()} has a bad CRC (the file is corrupt)")
        if self._type == b"IHDR":
            self._read_ihdr(bytes(self._ihdr))
        elif self._type == b"IEND":
            self._ended = True
        self._type = b""
        self._want = 8

    def _read_ihdr(self, ihdr: bytes) -> None:
        width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", ihdr)
        if not (0 < width <= MAX_CHUNK_LENGTH and 0 < height <= MAX_CHUNK_LENGTH):
            raise _Broken(f"the PNG header gives a size of {width}x{height}")
        self.size = (width, height)
        if colour not in _COLOUR_TYPES or depth not in _COLOUR_TYPES[colour][1]:
            raise _Broken(f"the PNG header has bit depth {depth} with colour type {colour}")
        if compression or filtering or interlace > 1:
            raise _Broken("the PNG header names an unknown compression, filter or interlace method")
        if width * height > MAX_PIXELS:
            raise _Broken(f"the picture is too large to decode ({width}x{height} pixels)")
        bits = _COLOUR_TYPES[colour][0] * depth
        passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
        layout = []
        for x0, y0, dx, dy in passes:
            columns, rows = _ceil_div(width - x0, dx), _ceil_div(height - y0, dy)
            if columns > 0 and rows > 0:
                layout.append((1 + _ceil_div(columns * bits, 8), rows))
        self._expected = sum(stride * rows for stride, rows in layout)
        self._rows = _row_offsets(layout)
        self._colour = colour

    def _before_image_data(self) -> None:
        if b"IHDR" not in self._seen:
            raise _Broken("the PNG file has image data before IHDR")
        if self._colour == 3 and not self._palette:
            raise _Broken("the PNG file has a palette colour type but no PLTE")
        self._next_row = next(self._rows, None)

    def _inflate(self, piece: memoryview) -> None:
        data: bytes | memoryview = piece
        while self._inflated < self._expected and not self._inflater.eof:
            try:
                out = self._inflater.decompress(data, INFLATE_PIECE_BYTES)
            except zlib.error as exc:
                raise _Broken(f"the PNG image data is corrupt ({exc})") from None
            self._scan(out)
            data = self._inflater.unconsumed_tail
            if not data and len(out) < INFLATE_PIECE_BYTES:
                break  # all of this piece is in, and no output is pending
        if self._inflater.eof and self._inflated < self._expected:
            raise _Broken(
                f"the PNG image data ends after {self._inflated} of {self._expected} bytes (truncated)"
            )

    def _scan(self, out: bytes) -> None:
        start, end = self._inflated, self._inflated + len(out)
        row = self._next_row
        while row is not None and row < end:
            if out[row - start] > 4:
                raise _Broken(f"the PNG image data has an unknown filter type {out[row - start]}")
            row = next(self._rows, None)
        self._next_row = row
        self._inflated = end

    def _end_of_image_data(self) -> None:
        # Output may be pending inside the inflater when the last piece filled INFLATE_PIECE_BYTES.
        self._inflate(memoryview(b""))
        if self._inflated < self._expected:
            raise _Broken(
                f"the PNG image data ends after {self._inflated} of {self._expected} bytes (truncated)"
            )


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator) if numerator > 0 else 0


def _row_offsets(layout: list[tuple[int, int]]) -> Iterator[int]:
    offset = 0
    for stride, rows in layout:
        for _ in range(rows):
            yield offset
            offset += stride


_UNDECIDED = "undecided"


def sniff_format(head: bytes) -> str | None:
    """``png``, ``jpeg`` or ``webp`` from a file's first bytes; None when it is none of them;
    ``_UNDECIDED`` while too few bytes are in to tell."""
    could_be = False
    for name, (offset, signature) in _SIGNATURES.items():
        if head[offset : offset + len(signature)] == signature:
            return name
        if len(head) < offset + len(signature) and signature.startswith(head[offset:]):
            could_be = True
    # WebP: "RIFF", four bytes of length, "WEBP".
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if len(head) < 12 and b"RIFF".startswith(head[:4]) and b"WEBP".startswith(head[8:12]):
        could_be = True
    return _UNDECIDED if could_be else None


def describe_start(data: bytes) -> str:
    """What a file that is not an image looks like, in words (for the reason of a refused copy)."""
    text = data[:64].lstrip()
    lowered = text.lower()
    if lowered.startswith((b"<svg", b"<?xml")) or b"<svg" in lowered:
        return "it is SVG or XML text, which can carry scripts"
    if lowered.startswith((b"<!doctype", b"<html", b"<")):
        return "it is HTML or other markup"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "it is a GIF"
    if data.startswith(b"\x1f\x8b"):
        return "it is gzip-compressed data"
    if data.startswith(b"%PDF"):
        return "it is a PDF"
    if lowered.startswith((b"{", b"[")):
        return "it is JSON text"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in data[:32]):
        return "it is plain text"
    return "it starts with the bytes " + " ".join(f"{b:02x}" for b in data[:8])


# Pillow's messages name the file object it read ("<tempfile.SpooledTemporaryFile object at 0x...>").
_OBJECT_REPR = re.compile(r"\s*<[^<>]* object at 0x[0-9a-fA-F]+>")


def _decode_with_pillow(spool: IO[bytes], format_name: str) -> tuple[tuple[int, int] | None, str | None]:
    """Size and problem of a JPEG or WebP file, decoded in full (a JPEG at 1/8 scale)."""
    from PIL import Image, UnidentifiedImageError  # only for formats other than PNG

    label = format_name.upper() if format_name != "webp" else "WebP"
    spool.seek(0)
    size = None
    try:
        with _FULL_DECODES, Image.open(spool) as picture:
            size = picture.size
            if picture.format != label.upper():
                return size, f"the file starts like a {label} but reads as {picture.format}"
            if picture.format == "JPEG":
                picture.draft(picture.mode, (math.ceil(size[0] / 8), math.ceil(size[1] / 8)))
            picture.load()
    except UnidentifiedImageError:
        return size, f"the {label} file could not be read (its header is damaged)"
    except Image.DecompressionBombError:
        return size, "the picture is too large to decode"
    except (OSError, SyntaxError, ValueError) as exc:
        reason = _OBJECT_REPR.sub("", str(exc)).strip() or type(exc).__name__
        return size, f"the {label} file is damaged ({reason})"
    return size, None
