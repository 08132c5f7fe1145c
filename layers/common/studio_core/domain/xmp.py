"""The IPTC "made by a trained algorithm" label, written into an image without touching its pixels.

Google Merchant Center asks that every AI-generated product image carry the IPTC digital source
type ``trainedAlgorithmicMedia`` in its embedded metadata. It is XMP property
``Iptc4xmpExt:DigitalSourceType``, and each format has a place for an XMP packet that readers
(exiftool, Pillow, browsers ignore it) find without decoding the image:

- JPEG: an APP1 segment headed ``http://ns.adobe.com/xap/1.0/\\0``, after the JFIF/Exif segments;
- PNG: an ``iTXt`` chunk with keyword ``XML:com.adobe.xmp``, right after ``IHDR``;
- WebP: an ``XMP `` chunk, the file in the extended format (a ``VP8X`` chunk with the XMP flag).

Only the container changes: the compressed image data is copied byte for byte, so nothing is
re-encoded and nothing is lost. An XMP packet already in the file keeps its properties: the label
is added to it (or the file is left alone when it already says so).
"""

from __future__ import annotations

import re
import struct
import zlib

from studio_core.domain.errors import StudioError

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
IPTC_EXT_NAMESPACE = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
CREATOR_TOOL = "Studio Pipeline with the Aiuta Studio API"

JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
WEBP_XMP_FLAG = 0x04
WEBP_ALPHA_FLAG = 0x10

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}


class UnsupportedImage(StudioError):
    """Not a JPEG, PNG or WebP file (or a damaged one): it cannot be labelled."""


def image_format(data: bytes) -> str:
    """``jpeg``, ``png`` or ``webp``, from the file's first bytes (never from its name)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise UnsupportedImage("not a JPEG, PNG or WebP file")


def xmp_packet() -> bytes:
    """The XMP packet that says the image was made by a trained algorithm."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f"{_description()}"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def _description() -> str:
    return (
        '  <rdf:Description rdf:about=""\n'
        f'    xmlns:Iptc4xmpExt="{IPTC_EXT_NAMESPACE}"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        f'    Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}"\n'
        f'    xmp:CreatorTool="{CREATOR_TOOL}"/>\n'
    )


def merged_packet(existing: bytes | None) -> bytes | None:
    """The packet to write: ours, or ``existing`` with our description added; None when
    ``existing`` already labels the image (nothing to change)."""
    if not existing:
        return xmp_packet()
    if DIGITAL_SOURCE_TYPE.encode() in existing:
        return None
    close = existing.rfind(b"</rdf:RDF>")
    if close < 0:
        return xmp_packet()
    return existing[:close] + _description().encode() + existing[close:]


def label_as_ai_generated(data: bytes) -> bytes:
    """``data`` with the IPTC digital source type ``trainedAlgorithmicMedia`` in its XMP."""
    kind = image_format(data)
    if kind == "jpeg":
        return _label_jpeg(data)
    if kind == "png":
        return _label_png(data)
    return _label_webp(data)


# --- JPEG -----------------------------------------------------------------------------------------


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """The header segments (marker, start, end) up to the first that is not APPn, and where it starts."""
    segments = []
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if not 0xE0 <= marker <= 0xEF:
            break
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        end = at + 2 + length
        if length < 2 or end > len(data):
            raise UnsupportedImage("a damaged JPEG (a segment runs past the end of the file)")
        segments.append((marker, at, end))
        at = end
    return segments, at


def _label_jpeg(data: bytes) -> bytes:
    segments, _ = _jpeg_segments(data)
    existing = None
    found: tuple[int, int] | None = None
    for marker, start, end in segments:
        if marker == 0xE1 and data[start + 4 : start + 4 + len(JPEG_XMP_HEADER)] == JPEG_XMP_HEADER:
            existing = data[start + 4 + len(JPEG_XMP_HEADER) : end]
            found = (start, end)
    packet = merged_packet(existing)
    if packet is None:
        return data
    body = JPEG_XMP_HEADER + packet
    if len(body) + 2 > 0xFFFF:
        raise UnsupportedImage("the JPEG's XMP is too large for one segment")
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    if found is not None:
        return data[: found[0]] + segment + data[found[1] :]
    # After JFIF (APP0) and Exif (APP1), where readers expect it; before everything else.
    after = 2
    for marker, _, end in segments:
        if marker in (0xE0, 0xE1):
            after = end
        else:
            break
    return data[:after] + segment + data[after:]


# --- PNG ------------------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """Every chunk as (type, start, end), ``end`` past its CRC."""
    chunks = []
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            raise UnsupportedImage("a damaged PNG (a chunk runs past the end of the file)")
        chunks.append((kind, at, end))
        at = end
        if kind == b"IEND":
            break
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        raise UnsupportedImage("a damaged PNG (it must start with IHDR and end with IEND)")
    return chunks


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _label_png(data: bytes) -> bytes:
    chunks = _png_chunks(data)
    existing = None
    found: tuple[int, int] | None = None
    prefix = PNG_XMP_KEYWORD + b"\x00"
    for kind, start, end in chunks:
        payload = data[start + 8 : end - 4]
        if kind == b"iTXt" and payload.startswith(prefix):
            existing = _itxt_text(payload[len(prefix) :])
            found = (start, end)
    packet = merged_packet(existing)
    if packet is None:
        return data
    # keyword, NUL, not compressed (0), method 0, empty language tag, empty translated keyword, text
    chunk = _png_chunk(b"iTXt", prefix + b"\x00\x00" + b"\x00" + b"\x00" + packet)
    if found is not None:
        return data[: found[0]] + chunk + data[found[1] :]
    ihdr_end = chunks[0][2]
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def _itxt_text(rest: bytes) -> bytes:
    """The text of an iTXt chunk after its keyword: flag, method, language, translated keyword, text."""
    compressed = rest[:1] == b"\x01"
    rest = rest[2:]
    rest = rest[rest.index(b"\x00") + 1 :]  # language tag
    rest = rest[rest.index(b"\x00") + 1 :]  # translated keyword
    return zlib.decompress(rest) if compressed else rest


# --- WebP -----------------------------------------------------------------------------------------


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = min(len(data), 8 + riff_size)
    chunks = []
    at = 12
    while at + 8 <= end:
        fourcc = data[at : at + 4]
        (size,) = struct.unpack("<I", data[at + 4 : at + 8])
        if at + 8 + size > end:
            raise UnsupportedImage("a damaged WebP (a chunk runs past the end of the file)")
        chunks.append((fourcc, data[at + 8 : at + 8 + size]))
        at += 8 + size + (size & 1)
    if not chunks:
        raise UnsupportedImage("a damaged WebP (no chunks)")
    return chunks


def _webp_chunk(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")


def _canvas(fourcc: bytes, payload: bytes) -> tuple[int, int, bool]:
    """Width, height and alpha of a simple-format WebP's image, from its bitstream header."""
    if fourcc == b"VP8L":
        if len(payload) < 5 or payload[0] != 0x2F:
            raise UnsupportedImage("a damaged WebP (a lossless header without its signature)")
        (bits,) = struct.unpack("<I", payload[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    if fourcc == b"VP8 ":
        if len(payload) < 10 or payload[3:6] != b"\x9d\x01\x2a":
            raise UnsupportedImage("a damaged WebP (a lossy frame without its start code)")
        width, height = struct.unpack("<HH", payload[6:10])
        return width & 0x3FFF, height & 0x3FFF, False
    raise UnsupportedImage(f"a WebP whose first chunk is {fourcc.decode('latin-1')!r}")


def _label_webp(data: bytes) -> bytes:
    chunks = _webp_chunks(data)
    existing = next((payload for fourcc, payload in chunks if fourcc == b"XMP "), None)
    packet = merged_packet(existing)
    if packet is None:
        return data
    kept = [(fourcc, payload) for fourcc, payload in chunks if fourcc != b"XMP "]
    first, payload = kept[0]
    if first == b"VP8X":
        vp8x = bytes([payload[0] | WEBP_XMP_FLAG]) + payload[1:]
        rest = kept[1:]
    else:
        width, height, alpha = _canvas(first, payload)
        flags = WEBP_XMP_FLAG | (WEBP_ALPHA_FLAG if alpha else 0)
        vp8x = (
            bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        )
        rest = kept
    # XMP comes last, after the image data (and EXIF), as the extended format orders it.
    body = b"WEBP" + _webp_chunk(b"VP8X", vp8x)
    body += b"".join(_webp_chunk(fourcc, chunk) for fourcc, chunk in rest)
    body += _webp_chunk(b"XMP ", packet)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def declares_ai_generated(data: bytes) -> bool:
    """Whether the file's XMP already carries the label (a quick look, for checks and tests)."""
    return re.search(re.escape(DIGITAL_SOURCE_TYPE.encode()), data) is not None
