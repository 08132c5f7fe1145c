"""The product image feed in its shapes: our rows (CSV, JSONL), Shopify's product CSV import and a
Merchant Center supplemental feed."""

from __future__ import annotations

import csv
import io
import json

from studio_core.domain.feed import (
    FeedImage,
    feed_csv,
    feed_jsonl,
    image_link,
    merchant_center_tsv,
    ordered,
    shopify_csv,
    shopify_handle,
)


def feed_image(product: str, label: str, position: int, title: str | None = "Linen shirt") -> FeedImage:
    key = f"published/{product}/{label.replace('/', '-')}-{position}.png"
    return FeedImage(
        product_id=product,
        image_type=label,
        kind="flat_lay" if label.startswith("ghost") else "on_figure",
        position=position,
        image_link=image_link(key, base_url="https://cdn.example.com/", bucket="b"),
        checksum="sha256:" + "0" * 64,
        key=key,
        job_id=f"{product}-job",
        published_at="2026-12-07T10:00:00+00:00",
        title=title,
    )


IMAGES = ordered(
    [
        feed_image("Sku-2", "front/standing", 1),
        feed_image("sku-1", "front/standing", 1),
        feed_image("sku-1", "front/standing", 2),
        feed_image("sku-1", "ghost_mannequin/front", 1, title=None),
    ]
)


def test_links_come_from_the_base_url_or_else_name_the_s3_object() -> None:
    assert IMAGES[0].image_link == "https://cdn.example.com/published/Sku-2/front-standing-1.png"
    assert image_link("published/a b.png", base_url="", bucket="studio-1").startswith(
        "https://studio-1.s3.amazonaws.com/published/a%20b.png"
    )


def test_our_feed_has_a_row_per_image_with_its_checksum() -> None:
    rows = list(csv.DictReader(io.StringIO(feed_csv(IMAGES))))
    lines = [json.loads(line) for line in feed_jsonl(IMAGES).splitlines()]

    assert [r["product_id"] for r in rows] == ["Sku-2", "sku-1", "sku-1", "sku-1"]
    assert rows[2]["image_type"] == "front/standing" and rows[2]["position"] == "2"
    assert lines == [{k: v for k, v in line.items()} for line in lines]
    assert lines[1]["checksum"].startswith("sha256:") and "title" not in lines[1]
    assert {k for k in rows[0]} == set(lines[0])


def test_shopify_rows_repeat_the_handle_and_number_a_products_images() -> None:
    rows = list(csv.DictReader(io.StringIO(shopify_csv(IMAGES))))

    assert list(rows[0]) == ["Handle", "Title", "Image Src", "Image Position", "Image Alt Text"]
    sku1 = [r for r in rows if r["Handle"] == "sku-1"]
    assert [r["Image Position"] for r in sku1] == ["1", "2", "3"]
    assert [r["Title"] for r in sku1] == ["Linen shirt", "", ""]
    assert sku1[0]["Image Alt Text"] == "Linen shirt: front/standing (AI-generated)"
    assert shopify_handle("Linen Shirt_42!") == "linen-shirt-42"


def test_merchant_center_gets_one_row_per_product_its_first_image_and_the_rest_as_additional() -> None:
    rows = list(csv.DictReader(io.StringIO(merchant_center_tsv(IMAGES)), delimiter="\t"))

    assert [r["id"] for r in rows] == ["Sku-2", "sku-1"]
    assert rows[1]["image_link"].endswith("sku-1/front-standing-1.png")
    assert rows[1]["additional_image_link"].split(",") == [
        "https://cdn.example.com/published/sku-1/front-standing-2.png",
        "https://cdn.example.com/published/sku-1/ghost_mannequin-front-1.png",
    ]
