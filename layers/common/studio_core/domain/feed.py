"""The product image feed: every published image, in the shapes shops import (pure rendering).

Rewritten on each publish from every product's published images:

- ``published/feed.jsonl`` and ``published/feed.csv``: one row per image: ``product_id``,
  ``image_type``, ``kind``, ``position``, ``image_link``, ``checksum`` (``sha256:<hex>`` of the
  published file), ``key``, ``job_id``, ``published_at``.
- ``published/shopify.csv``: Shopify's product CSV import: ``Handle`` (the product id as a handle),
  ``Title``, ``Image Src`` (the link), ``Image Position`` (1.. per product), ``Image Alt Text``; a
  product's further images repeat its Handle with Title empty, as Shopify's own export does.
- ``published/merchant-center.tsv``: a Merchant Center supplemental feed: ``id`` (the product id,
  as the primary feed names it), ``image_link`` (the product's first image),
  ``additional_image_link`` (the next ones, comma-separated, at most 10).

Links are ``<PublishedBaseUrl>/<key>`` (e.g. a CloudFront domain in front of ``published/``);
without a base URL they are the objects' S3 URLs, which a private bucket does not serve.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from urllib.parse import quote

MERCHANT_CENTER_ADDITIONAL_IMAGES = 10
FEED_COLUMNS = (
    "product_id",
    "image_type",
    "kind",
    "position",
    "image_link",
    "checksum",
    "key",
    "job_id",
    "published_at",
)
SHOPIFY_COLUMNS = ("Handle", "Title", "Image Src", "Image Position", "Image Alt Text")
MERCHANT_CENTER_COLUMNS = ("id", "image_link", "additional_image_link")


@dataclass(frozen=True)
class FeedImage:
    """One published image as the feed lists it."""

    product_id: str
    image_type: str
    kind: str
    position: int  # its place among the type's published images (1..)
    image_link: str
    checksum: str
    key: str
    job_id: str
    published_at: str
    title: str | None = None


def image_link(key: str, *, base_url: str, bucket: str) -> str:
    """Where a shop fetches ``key``: under the base URL, else the object's S3 URL."""
    path = quote(key)
    if base_url:
        return f"{base_url.rstrip('/')}/{path}"
    return f"https://{bucket}.s3.amazonaws.com/{path}"


def ordered(images: Iterable[FeedImage]) -> list[FeedImage]:
    """Products in id order; a product's images in the order they were published (as given)."""
    by_product: dict[str, list[FeedImage]] = {}
    for image in images:
        by_product.setdefault(image.product_id, []).append(image)
    return [image for product in sorted(by_product) for image in by_product[product]]


def feed_jsonl(images: Sequence[FeedImage]) -> str:
    rows = [{name: value for name, value in asdict(image).items() if name != "title"} for image in images]
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def feed_csv(images: Sequence[FeedImage]) -> str:
    return _csv(FEED_COLUMNS, ([getattr(image, name) for name in FEED_COLUMNS] for image in images))


def shopify_handle(product_id: str) -> str:
    """A Shopify handle: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", product_id.lower()).strip("-") or "product"


def shopify_csv(images: Sequence[FeedImage]) -> str:
    rows = []
    position: dict[str, int] = {}
    for image in images:
        position[image.product_id] = position.get(image.product_id, 0) + 1
        first = position[image.product_id] == 1
        name = image.title or image.product_id
        rows.append(
            [
                shopify_handle(image.product_id),
                name if first else "",
                image.image_link,
                position[image.product_id],
                f"{name}: {image.image_type} (AI-generated)",
            ]
        )
    return _csv(SHOPIFY_COLUMNS, rows)


def merchant_center_tsv(images: Sequence[FeedImage]) -> str:
    by_product: dict[str, list[str]] = {}
    for image in images:
        by_product.setdefault(image.product_id, []).append(image.image_link)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(MERCHANT_CENTER_COLUMNS)
    for product_id, links in by_product.items():
        # A comma inside a link would split it: Merchant Center asks for it encoded.
        extra = [link.replace(",", "%2C") for link in links[1 : 1 + MERCHANT_CENTER_ADDITIONAL_IMAGES]]
        writer.writerow([product_id, links[0], ",".join(extra)])
    return buffer.getvalue()


def _csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()
