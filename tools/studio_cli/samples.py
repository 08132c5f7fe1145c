"""Sample product photos drawn on the spot, so the demo and the tests need no downloads."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

GARMENTS = {
    "tshirt": [
        (90, 40),
        (150, 60),
        (210, 40),
        (280, 90),
        (250, 140),
        (225, 120),
        (225, 330),
        (75, 330),
        (75, 120),
        (50, 140),
        (20, 90),
    ],
    "dress": [(120, 30), (180, 30), (200, 110), (270, 340), (30, 340), (100, 110)],
    "jacket": [
        (95, 35),
        (150, 55),
        (205, 35),
        (285, 100),
        (285, 330),
        (225, 330),
        (225, 130),
        (150, 330),
        (75, 130),
        (75, 330),
        (15, 330),
        (15, 100),
    ],
}


def product_photo(
    garment: str, colour: tuple[int, int, int], *, angle: int = 0, size: tuple[int, int] = (300, 360)
) -> bytes:
    """A JPEG of a flat garment on a light backdrop; ``angle`` varies the shot."""
    picture = Image.new("RGB", size, (236, 233, 228))
    draw = ImageDraw.Draw(picture)
    shape = [(x + angle * 3, y) for x, y in GARMENTS[garment]]
    draw.polygon(shape, fill=colour, outline=(40, 40, 40))
    for offset in range(0, 300, 30):
        shade = tuple(max(0, c - 35) for c in colour)
        draw.line(
            [(85 + angle * 3, 150 + offset // 3), (215 + angle * 3, 150 + offset // 3)], fill=shade, width=2
        )
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


@dataclass
class SampleProduct:
    product_id: str
    garment: str
    colour: tuple[int, int, int]
    photos: int = 2
    manifest: dict[str, Any] | None = None
    extra_files: dict[str, bytes] = field(default_factory=dict)

    def files(self) -> dict[str, bytes]:
        files = {
            f"photo-{i + 1}.jpg": product_photo(self.garment, self.colour, angle=i)
            for i in range(self.photos)
        }
        if self.manifest is not None:
            files["product.json"] = json.dumps(self.manifest, indent=2).encode()
        files.update(self.extra_files)
        return files

    def write(self, folder: Path) -> Path:
        target = folder / self.product_id
        target.mkdir(parents=True, exist_ok=True)
        for name, data in self.files().items():
            (target / name).write_bytes(data)
        return target
