"""Pictures the simulator hands out: drawn from the product photos, honest about being simulated.

Each output honours the request (size, paddings, background type and colour), differs per
variant (a tint), names its image type and carries a "SIMULATED" mark. Rendering is cheap:
PNG with light compression, done once per image and cached by the caller. Smooth drawings
compress far better than photographs, so ``noise`` adds a photographic grain that brings a
file to a realistic size (a 1536x2048 render: 0.5 MB smooth, about 1 MB with noise 0.25).
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps, UnidentifiedImageError

MAX_INPUT_PIXELS = 40_000_000
MIN_OUTPUT_SIDE = 16
MAX_OUTPUT_SIDE = 4096
VARIANT_TINTS = [(255, 255, 255), (255, 150, 150), (140, 180, 255), (150, 230, 150)]
STUDIO_TOP, STUDIO_BOTTOM, STUDIO_FLOOR = (242, 240, 236), (214, 211, 205), (196, 192, 186)
MARK_COLOUR = (200, 20, 40)
GRAIN_DRAW_SIGMA = 40.0


class NotAnImage(ValueError):
    """Bytes that Pillow cannot decode as a picture."""


@dataclass(frozen=True)
class DecodedImage:
    extension: str
    content_type: str
    width: int
    height: int


def inspect_image(data: bytes) -> DecodedImage:
    """Decode ``data`` fully; raises ``NotAnImage`` with a reason a person understands."""
    if not data:
        raise NotAnImage("the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as picture:
            if picture.width * picture.height > MAX_INPUT_PIXELS:
                raise NotAnImage(f"the image is too large ({picture.width}x{picture.height} pixels)")
            picture.load()
            name = picture.format or "BIN"
            extension = "jpg" if name == "JPEG" else name.lower()
            content_type = Image.MIME.get(name, "application/octet-stream")
            return DecodedImage(extension, content_type, picture.width, picture.height)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, NotAnImage):
            raise
        raise NotAnImage(f"the bytes are not a decodable image ({type(exc).__name__})") from None


def geometry_problem(width: int, height: int, paddings: tuple[int, int, int, int]) -> str | None:
    """Why an output size and paddings cannot be drawn, or None. Paddings are top, bottom, left, right."""
    if not (MIN_OUTPUT_SIDE <= width <= MAX_OUTPUT_SIDE and MIN_OUTPUT_SIDE <= height <= MAX_OUTPUT_SIDE):
        return (
            f"output_image_size {width}x{height} is outside what the simulator draws "
            f"({MIN_OUTPUT_SIDE} to {MAX_OUTPUT_SIDE} pixels a side)"
        )
    top, bottom, left, right = paddings
    if min(paddings) < 0:
        return "output_image_paddings must not be negative"
    if left + right >= width or top + bottom >= height:
        return f"output_image_paddings leave no room for the product in a {width}x{height} image"
    return None


@dataclass(frozen=True)
class RenderSpec:
    """Everything one generated picture depends on."""

    product: bytes
    width: int
    height: int
    paddings: tuple[int, int, int, int]
    background_type: str
    reference_color: str | None
    label: str
    variant: int
    variants: int
    noise: float = 0.0  # sigma of the grain, in 0-255 levels; 0 = none


def render(spec: RenderSpec) -> bytes:
    """The PNG of one generated image."""
    size = (spec.width, spec.height)
    canvas = _background(spec.background_type, spec.reference_color, size, spec.variant)
    product = _tinted(_cutout(spec.product, spec.label), spec.variant)
    top, bottom, left, right = spec.paddings
    box = (left, top, spec.width - right, spec.height - bottom)
    fitted = ImageOps.contain(product, (box[2] - box[0], box[3] - box[1]), Image.Resampling.BILINEAR)
    x = box[0] + (box[2] - box[0] - fitted.width) // 2
    y = box[1] + (box[3] - box[1] - fitted.height) // 2
    canvas.alpha_composite(fitted, (x, y))
    _draw_marks(canvas, spec)
    if spec.background_type != "transparent":
        canvas = canvas.convert("RGB")
    if spec.noise > 0:
        return _png_unfiltered(_grained(canvas, spec.noise))
    return _png(canvas)


def render_preset_sample(
    label: str, colour: tuple[int, int, int], size: tuple[int, int] = (240, 320)
) -> bytes:
    """A small placeholder portrait for a model preset's ``sample_image``."""
    canvas = _gradient(size, _mix(colour, (255, 255, 255), 0.7), _mix(colour, (0, 0, 0), 0.1))
    draw = ImageDraw.Draw(canvas)
    w, h = size
    draw.ellipse((w * 0.38, h * 0.12, w * 0.62, h * 0.32), fill=(90, 80, 75, 255))
    draw.rounded_rectangle((w * 0.3, h * 0.34, w * 0.7, h * 0.9), radius=w // 10, fill=(90, 80, 75, 255))
    _text_box(draw, (6, 6), "SIMULATED", _font(max(10, w // 16)), MARK_COLOUR)
    _text_box(draw, (6, h - 24), label, _font(max(10, w // 18)), (30, 30, 30))
    return _png(canvas.convert("RGB"))


def _cutout(data: bytes, label: str) -> Image.Image:
    """The product with its backdrop made transparent, cropped to the product, posed for ``label``."""
    with Image.open(io.BytesIO(data)) as opened:
        picture = ImageOps.exif_transpose(opened).convert("RGBA")
    picture.thumbnail((1024, 1024))
    if picture.getextrema()[3][0] == 255:
        picture.putalpha(_foreground_mask(picture.convert("RGB")))
    bbox = picture.getchannel("A").getbbox()
    if bbox:
        picture = picture.crop(bbox)
    return _pose(picture, label)


def _foreground_mask(picture: Image.Image) -> Image.Image:
    # The backdrop is whatever colour the border has; everything clearly different is product.
    small = picture.resize((16, 16), Image.Resampling.NEAREST)
    border = [small.getpixel((x, y)) for x in range(16) for y in range(16) if x in (0, 15) or y in (0, 15)]
    backdrop = tuple(sorted(channel)[len(channel) // 2] for channel in zip(*border, strict=True))
    difference = ImageChops.difference(picture, Image.new("RGB", picture.size, backdrop)).convert("L")
    mask = difference.point(lambda value: 255 if value > 18 else 0).filter(ImageFilter.MaxFilter(3))
    coverage = sum(mask.histogram()[255:]) / (picture.width * picture.height)
    if coverage < 0.01 or coverage > 0.97:
        return Image.new("L", picture.size, 255)
    return mask.filter(ImageFilter.GaussianBlur(1))


def _pose(picture: Image.Image, label: str) -> Image.Image:
    # A hint of the requested shot, so different image types look different at a glance.
    if "back" in label:
        picture = ImageOps.mirror(picture)
    if "side" in label:
        picture = picture.resize((max(1, int(picture.width * 0.7)), picture.height))
    if "detail" in label or "close_up" in label:
        w, h = picture.size
        picture = picture.crop((w // 4, h // 4, w - w // 4, h - h // 4))
    if "angled" in label or "walking" in label:
        picture = picture.rotate(6, expand=True, resample=Image.Resampling.BILINEAR)
    return picture


def _tinted(picture: Image.Image, variant: int) -> Image.Image:
    tint = VARIANT_TINTS[(variant - 1) % len(VARIANT_TINTS)]
    if tint == (255, 255, 255):
        return picture
    overlay = Image.new("RGBA", picture.size, (*tint, 255))
    blended = Image.blend(picture, overlay, 0.3)
    blended.putalpha(picture.getchannel("A"))
    return blended


def _background(kind: str, colour: str | None, size: tuple[int, int], variant: int) -> Image.Image:
    if kind == "transparent":
        return Image.new("RGBA", size, (0, 0, 0, 0))
    if kind == "reference_color" and colour:
        base = _hex(colour)
        canvas = _gradient(size, _mix(base, (255, 255, 255), 0.45), _mix(base, (0, 0, 0), 0.3))
        glow = Image.new("RGBA", size, (*_mix(base, (255, 255, 255), 0.75), 255))
        spot = ImageOps.invert(Image.radial_gradient("L").resize(size))
        canvas.paste(glow, (0, 0), spot.point(lambda value: value // 2))
        return canvas
    canvas = _gradient(size, STUDIO_TOP, STUDIO_BOTTOM)
    floor = int(size[1] * (0.78 + 0.01 * (variant - 1)))
    ImageDraw.Draw(canvas).rectangle((0, floor, size[0], size[1]), fill=(*STUDIO_FLOOR, 255))
    return canvas


def _gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    mask = Image.linear_gradient("L").resize(size)
    return Image.composite(
        Image.new("RGBA", size, (*bottom, 255)), Image.new("RGBA", size, (*top, 255)), mask
    )


def _draw_marks(canvas: Image.Image, spec: RenderSpec) -> None:
    draw = ImageDraw.Draw(canvas)
    scale = max(10, min(spec.width, spec.height) // 18)
    _text_box(draw, (6, 6), "SIMULATED", _font(scale), MARK_COLOUR)
    caption = f"{spec.label}  #{spec.variant}/{spec.variants}"
    _text_box(draw, (6, spec.height - scale - 14), caption, _font(max(9, scale * 3 // 4)), (30, 30, 30))


def _grained(picture: Image.Image, sigma: float) -> Image.Image:
    """``picture`` with a monochrome Gaussian grain on its colour channels (alpha left as it is)."""
    grain = _grain(picture.size, sigma)
    if picture.mode != "RGBA":
        return ImageChops.add(picture, grain, 1.0, -128)
    grained = ImageChops.add(picture.convert("RGB"), grain, 1.0, -128)
    grained.putalpha(picture.getchannel("A"))
    return grained


@lru_cache(maxsize=2)
def _grain(size: tuple[int, int], sigma: float) -> Image.Image:
    """Gaussian noise of ``sigma`` levels around 128, rounded to whole levels (sparse when sigma < 1).

    ``effect_noise`` draws whole levels with half of them at 127 even for a tiny sigma, so the noise
    is drawn ``spread`` times wider and scaled back. One grain per size serves every image.
    """
    spread = max(1.0, GRAIN_DRAW_SIGMA / sigma)
    noise = Image.effect_noise(size, sigma * spread).point(
        lambda level: max(0, min(255, 128 + math.floor((level - 127.5) / spread + 0.5)))
    )
    return Image.merge("RGB", (noise, noise, noise))


def _text_box(
    draw: ImageDraw.ImageDraw, at: tuple[int, int], text: str, font: ImageFont.ImageFont, colour: tuple
) -> None:
    # A light plate behind the text keeps it readable on any background, and leaves corners untouched.
    left, top, right, bottom = draw.textbbox(at, text, font=font)
    draw.rectangle((left - 3, top - 3, right + 3, bottom + 3), fill=(255, 255, 255, 200))
    draw.text(at, text, font=font, fill=(*colour, 255))


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError, ImportError):
        return ImageFont.load_default()


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], share_of_b: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * share_of_b) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _hex(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _png_unfiltered(picture: Image.Image) -> bytes:
    """An RGB(A) PNG whose rows all have filter type None, in one IDAT chunk.

    Grain defeats PNG's row filters (the file is 2 % larger without them), and choosing one per
    row is most of Pillow's encoding time: a 3072x4096 grainy picture takes 0.4 s instead of 1 s.
    """
    stride = picture.width * len(picture.mode)
    pixels = memoryview(picture.tobytes())
    rows = b"\x00" + b"\x00".join(pixels[at : at + stride] for at in range(0, len(pixels), stride))
    header = struct.pack(
        ">IIBBBBB", picture.width, picture.height, 8, 6 if picture.mode == "RGBA" else 2, 0, 0, 0
    )
    chunks = ((b"IHDR", header), (b"IDAT", zlib.compress(rows, 1)), (b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        for kind, data in chunks
    )
