"""Ingest: turn new objects in the bucket into jobs, each started as one Step Functions execution.

One SQS message carries an S3 event (or S3's ``s3:TestEvent``, or our own delayed settle
check). What a key means is decided in ``domain.keys.classify_key``; each input kind has its
module here: ``folders`` (photos and ``product.json``), ``catalogues`` (CSV/JSONL feeds),
``regeneration_requests``; ``context`` starts or rejects a job the same way for all of them.
"""

from __future__ import annotations

from studio_core.aws.queue_messages import S3TestEvent, SettleCheck, SettleCheckMessage, parse_message
from studio_core.domain.keys import ClassifiedKey, KeyKind, classify_key, product_id_problem
from studio_core.observability import logger
from studio_core.steps.ingest.catalogues import start_catalogue
from studio_core.steps.ingest.context import Ingest, Outcome, reject
from studio_core.steps.ingest.folders import schedule_settle_check, settle_check, start_folder
from studio_core.steps.ingest.regeneration_requests import start_regeneration

__all__ = ["Ingest", "Outcome", "SettleCheck", "handle_body"]


def handle_body(ctx: Ingest, body: str) -> list[Outcome]:
    """What one queue message's body becomes: one outcome per object it names."""
    message = parse_message(body)
    if isinstance(message, S3TestEvent):
        logger.info("skipping s3:TestEvent (sent when the bucket notification is configured)")
        return [Outcome.SKIPPED]
    if isinstance(message, SettleCheckMessage):
        return [settle_check(ctx, message.settle_check)]
    outcomes = []
    for record in message.Records:
        if not record.eventName.startswith("ObjectCreated"):
            outcomes.append(Outcome.SKIPPED)
            continue
        outcomes.extend(on_new_object(ctx, classify_key(record.key), record.s3.object.eTag or ""))
    return outcomes


def on_new_object(ctx: Ingest, item: ClassifiedKey, etag: str) -> list[Outcome]:
    logger.info("new object", extra={"key": item.key, "meaning": item.kind.value})
    if item.kind is KeyKind.IGNORED:
        logger.info("ignored", extra={"key": item.key, "reason": item.reason})
        return [Outcome.SKIPPED]
    if item.kind is KeyKind.CATALOGUE:
        return start_catalogue(ctx, item.key, etag)
    assert item.product_id is not None
    if problem := product_id_problem(item.product_id):
        return [reject(ctx, item.product_id, item.key, etag, problem)]
    if item.kind is KeyKind.REGENERATION:
        return [start_regeneration(ctx, item.product_id, item.key, etag)]
    if item.kind is KeyKind.MANIFEST:
        return [start_folder(ctx, item.product_id, trigger=item.key, from_manifest=True)]
    return [schedule_settle_check(ctx, SettleCheck(product_id=item.product_id), ctx.quiet_seconds)]
