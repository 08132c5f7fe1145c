"""Publish approved images: ``published/<product>/<type>-<n>.<ext>``, the feed, and an event.

Each approved image is read from outbox/, labelled as AI-generated in its XMP (``domain.xmp``,
no re-encoding) and written to its stable key; a type published again replaces its files (a PUT
replaces an object at once; the bucket's versioning keeps the earlier ones) and loses the
numbers it no longer has. What each product has published is kept in the jobs table
(``pk = FEED``, ``sk = PRODUCT#<product>``, one partition read in one consistent query), and the
feed files are rewritten from it after every publish (``domain.feed``).

Two publishes at the same moment: each bumps the feed's version after writing its product and
writes the files only if no later publish has bumped it since it read; the later one's files
then include both products. (A publish that bumps between the other's check and its PUT can
still be overwritten by an older view for a moment; the next publish corrects it.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key

from studio_core.aws.events import JobEvents
from studio_core.aws.gallery import publish_gallery
from studio_core.aws.jobs_table import JobsTable, _from_dynamo
from studio_core.aws.storage import Storage
from studio_core.domain.feed import (
    FeedImage,
    feed_csv,
    feed_jsonl,
    image_link,
    merchant_center_tsv,
    ordered,
    shopify_csv,
)
from studio_core.domain.identity import image_checksum, product_key
from studio_core.domain.keys import (
    FEED_CSV_KEY,
    FEED_JSONL_KEY,
    MERCHANT_CENTER_KEY,
    SHOPIFY_CSV_KEY,
    image_type_slug,
    published_key,
    published_prefix,
)
from studio_core.domain.record import ApprovedImage, JobRecord, PublishedImage, ReviewDecisionRecord
from studio_core.domain.review import ReviewState, approvals_after, job_image_types
from studio_core.domain.xmp import CONTENT_TYPES, EXTENSIONS, image_format, label_as_ai_generated
from studio_core.observability import count, logger

FEED_PARTITION = "FEED"
FEED_VERSION = "VERSION"
FEED_KEYS = (FEED_CSV_KEY, FEED_JSONL_KEY, SHOPIFY_CSV_KEY, MERCHANT_CENTER_KEY)


class PublishedFeed:
    """What every product has published, in the jobs table, and the feed's version counter."""

    def __init__(self, table_name: str, dynamodb_resource: Any | None = None) -> None:
        self._table = (dynamodb_resource or boto3.resource("dynamodb")).Table(table_name)

    def product(self, product_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key=_product_item(product_id), ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def put_product(self, product_id: str, entry: dict[str, Any]) -> None:
        self._table.put_item(Item={**_product_item(product_id), **json.loads(json.dumps(entry))})

    def bump(self) -> int:
        answer = self._table.update_item(
            Key={"pk": FEED_PARTITION, "sk": FEED_VERSION},
            UpdateExpression="ADD version :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["version"])

    def version(self) -> int:
        item = self._table.get_item(Key={"pk": FEED_PARTITION, "sk": FEED_VERSION}, ConsistentRead=True)
        return int(item.get("Item", {}).get("version", 0))

    def products(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(FEED_PARTITION) & Key("sk").begins_with("PRODUCT#"),
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**kwargs)
            found.extend(_plain(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class Publisher:
    """Publishes a job's approved images; the store's links start with ``base_url``."""

    storage: Storage
    feed: PublishedFeed
    base_url: str = ""
    events: JobEvents | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def publish(self, record: JobRecord, approved: list[ApprovedImage]) -> list[PublishedImage]:
        """Writes the approved images to ``published/``, the product's feed entry, the feed files
        and the ``Studio Images Published`` event; returns what was published."""
        now = self.clock().isoformat(timespec="seconds")
        order = list(job_image_types(record))
        groups: dict[str, list[ApprovedImage]] = {}
        for image in sorted(
            approved,
            key=lambda a: (
                order.index(a.image_type.label) if a.image_type.label in order else 99,
                a.round,
                a.variant,
            ),
        ):
            groups.setdefault(image.image_type.label, []).append(image)
        published: list[PublishedImage] = []
        for label, images in groups.items():
            written = [
                self._publish_one(record.product_id, image, position)
                for position, image in enumerate(images, 1)
            ]
            published.extend(written)
            self._remove_stale(record.product_id, label, {p.key for p in written})
        self._record(record, published, now)
        self._rewrite_feed()
        count("ImagesPublished", len(published))
        if self.events is not None:
            self.events.images_published(
                {
                    "product_id": record.product_id,
                    "job_id": record.job_id,
                    "bucket": self.storage.bucket,
                    "published_at": now,
                    "images": [self._describe(p) for p in published],
                    "keys": [p.key for p in published],
                    "feed_keys": list(FEED_KEYS),
                }
            )
        logger.info("images published", extra={"images": len(published), "types": len(groups)})
        return published

    def _publish_one(self, product_id: str, image: ApprovedImage, position: int) -> PublishedImage:
        labelled = label_as_ai_generated(self.storage.read_bytes(image.key))
        kind = image_format(labelled)
        key = published_key(product_id, image.image_type.label, position, EXTENSIONS[kind])
        self.storage.put_bytes(key, labelled, CONTENT_TYPES[kind])
        return PublishedImage(
            kind=image.kind,
            image_type=image.image_type,
            position=position,
            key=key,
            source_key=image.key,
            checksum=f"sha256:{image_checksum(labelled)}",
            content_type=CONTENT_TYPES[kind],
        )

    def _remove_stale(self, product_id: str, label: str, keep: set[str]) -> None:
        """A type published again with fewer images (or another format) loses its other files."""
        prefix = f"{published_prefix(product_id)}{image_type_slug(label)}-"
        stale = [o.key for o in self.storage.list_objects(prefix) if o.key not in keep]
        if stale:
            self.storage.delete_keys(stale)

    def _record(self, record: JobRecord, published: list[PublishedImage], now: str) -> None:
        """The product's entry: this publish's types replace those types, others stay."""
        previous = self.feed.product(record.product_id) or {}
        types = {p.image_type.label for p in published}
        kept = [i for i in previous.get("images", []) if i.get("image_type") not in types]
        images = [
            *kept,
            *(p.model_dump(mode="json") | {"job_id": record.job_id, "published_at": now} for p in published),
        ]
        self.feed.put_product(
            record.product_id,
            {
                "product_id": record.product_id,
                "title": record.job.product.title if record.job is not None else None,
                "images": images,
                "updated_at": now,
            },
        )

    def _rewrite_feed(self) -> None:
        version = self.feed.bump()
        images = ordered(
            self._feed_image(entry, image)
            for entry in self.feed.products()
            for image in entry.get("images", [])
        )
        if self.feed.version() != version:
            logger.info("a later publish rewrites the feed", extra={"version": version})
            return
        self.storage.put_bytes(FEED_JSONL_KEY, feed_jsonl(images).encode(), "application/x-ndjson")
        self.storage.put_bytes(FEED_CSV_KEY, feed_csv(images).encode(), "text/csv; charset=utf-8")
        self.storage.put_bytes(SHOPIFY_CSV_KEY, shopify_csv(images).encode(), "text/csv; charset=utf-8")
        self.storage.put_bytes(
            MERCHANT_CENTER_KEY,
            merchant_center_tsv(images).encode(),
            "text/tab-separated-values; charset=utf-8",
        )

    def _feed_image(self, entry: dict[str, Any], image: dict[str, Any]) -> FeedImage:
        return FeedImage(
            product_id=str(entry["product_id"]),
            image_type=str(image["image_type"]),
            kind=str(image["kind"]),
            position=int(image["position"]),
            image_link=image_link(str(image["key"]), base_url=self.base_url, bucket=self.storage.bucket),
            checksum=str(image["checksum"]),
            key=str(image["key"]),
            job_id=str(image.get("job_id", "")),
            published_at=str(image.get("published_at", "")),
            title=entry.get("title"),
        )

    def _describe(self, image: PublishedImage) -> dict[str, Any]:
        return {
            "image_type": image.image_type.label,
            "kind": image.kind.value,
            "position": image.position,
            "key": image.key,
            "link": image_link(image.key, base_url=self.base_url, bucket=self.storage.bucket),
            "checksum": image.checksum,
        }


def _product_item(product_id: str) -> dict[str, str]:
    return {"pk": FEED_PARTITION, "sk": f"PRODUCT#{product_key(product_id)}"}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in _from_dynamo(item).items() if k not in ("pk", "sk")}


def publish_late_approval(
    publisher: Publisher, jobs: JobsTable, record: JobRecord, decision: ReviewDecisionRecord
) -> list[PublishedImage]:
    """A decision that approves images of a job that has ended (its review expired, or it had none):
    recorded, and the approved images published at once (nothing is made again)."""
    jobs.record_decision(record.job_id, decision)
    approved = approvals_after(record.approved_images, decision)
    jobs.apply_review_decision(record.job_id, approved=approved, review_state=None)
    current = jobs.get(record.job_id) or record
    published = publisher.publish(current, approved)
    jobs.record_published(
        record.job_id,
        published=published,
        published_at=publisher.clock().isoformat(timespec="seconds"),
        review_state=ReviewState.PUBLISHED.value,
    )
    ended = jobs.get(record.job_id)
    if ended is not None:
        publish_gallery(publisher.storage, jobs, ended)
    return published
