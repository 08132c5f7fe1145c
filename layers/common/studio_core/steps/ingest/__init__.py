"""Ingest: turn new objects in the bucket into jobs, each started as one Step Functions execution.

One SQS message carries an S3 event (or S3's ``s3:TestEvent``, or our own delayed settle
check). What a key means is decided in ``domain.keys.classify_key``; each input kind has its
module here: ``folders`` (photos and ``product.json``), ``catalogues`` (CSV/JSONL feeds),
``regeneration_requests``, ``cancels``, ``reviews`` (decisions under review/); ``context``
starts or rejects a job the same way for all of them.

Bad input never loops: whatever an input's content, it ends as a rejection (a FAILED record and
an error report) and the message is consumed. Only AWS errors (the bucket, the table, Step
Functions) propagate, so SQS delivers the message again and finally dead-letters it.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from studio_core.aws.queue_messages import (
    RegenerationTurnMessage,
    ReviewTurnMessage,
    S3Object,
    S3TestEvent,
    SettleCheck,
    SettleCheckMessage,
    parse_message,
)
from studio_core.domain.identity import rejection_id
from studio_core.domain.keys import ClassifiedKey, KeyKind, classify_key, product_id_problem
from studio_core.observability import count, logger
from studio_core.steps.ingest.cancels import cancel_from_file
from studio_core.steps.ingest.catalogues import start_catalogue
from studio_core.steps.ingest.context import Ingest, Outcome, reject, write_report
from studio_core.steps.ingest.folders import (
    reject_invalid_id,
    schedule_settle_check,
    settle_check,
    start_folder,
)
from studio_core.steps.ingest.regeneration_requests import start_regeneration
from studio_core.steps.ingest.reviews import review_from_file

__all__ = ["Ingest", "Outcome", "SettleCheck", "handle_body"]


def handle_body(ctx: Ingest, body: str) -> list[Outcome]:
    """What one queue message's body becomes: one outcome per object it names."""
    message = parse_message(body)
    if isinstance(message, S3TestEvent):
        logger.info("skipping s3:TestEvent (sent when the bucket notification is configured)")
        return [Outcome.SKIPPED]
    if isinstance(message, SettleCheckMessage):
        return [settle_check(ctx, message.settle_check)]
    if isinstance(message, RegenerationTurnMessage):
        turn = message.regeneration_turn
        return [start_regeneration(ctx, turn.product_id, turn.key, turn.object, turn.attempt)]
    if isinstance(message, ReviewTurnMessage):
        again = message.review_turn
        return [
            review_from_file(
                ctx, again.key, again.product_id, again.job_id, again.object, None, again.attempt
            )
        ]
    outcomes = []
    for record in message.Records:
        if not record.eventName.startswith("ObjectCreated"):
            outcomes.append(Outcome.SKIPPED)
            continue
        item = classify_key(record.key)
        try:
            principal = record.userIdentity.principalId if record.userIdentity else None
            outcomes.extend(on_new_object(ctx, item, record.s3.object, principal))
        except (ClientError, BotoCoreError):
            raise
        except Exception as exc:  # a bug or an input nobody foresaw: one rejection, never a loop
            outcomes.append(unforeseen(ctx, item, record.s3.object.version, exc))
    return outcomes


def unforeseen(ctx: Ingest, item: ClassifiedKey, etag: str, exc: Exception) -> Outcome:
    logger.exception("input could not be processed", extra={"key": item.key})
    count("IngestUnexpectedErrors")
    message = (
        f"{item.key} could not be processed ({type(exc).__name__}: {str(exc)[:300]}); "
        "this is a bug in the pipeline, not in your input, please report it"
    )
    if item.product_id is None:
        write_report(ctx, item.key, None, message, [])
        return Outcome.REJECTED
    return reject(
        ctx, item.product_id, item.key, etag, message, job_id=rejection_id(item.product_id, item.key, etag)
    )


def on_new_object(
    ctx: Ingest, item: ClassifiedKey, obj: S3Object, principal: str | None = None
) -> list[Outcome]:
    """What one new object starts; ``obj`` is the event's object, read at the version it names."""
    logger.info("new object", extra={"key": item.key, "meaning": item.kind.value})
    if item.kind is KeyKind.IGNORED:
        logger.info("ignored", extra={"key": item.key, "reason": item.reason})
        return [Outcome.SKIPPED]
    if item.kind is KeyKind.CATALOGUE:
        return start_catalogue(ctx, item.key, obj)
    if item.kind is KeyKind.CANCEL:
        return [cancel_from_file(ctx, item.key, obj, principal)]
    if item.kind is KeyKind.REVIEW:
        assert item.product_id is not None and item.job_id is not None
        return [review_from_file(ctx, item.key, item.product_id, item.job_id, obj, principal)]
    assert item.product_id is not None
    if problem := product_id_problem(item.product_id, folder=item.kind is not KeyKind.REGENERATION):
        if item.kind is not KeyKind.REGENERATION:
            return [reject_invalid_id(ctx, item.product_id, item.key, problem)]
        job_id = rejection_id(item.product_id, item.key, obj.version)
        return [reject(ctx, item.product_id, item.key, obj.version, problem, job_id=job_id)]
    if item.kind is KeyKind.REGENERATION:
        return [start_regeneration(ctx, item.product_id, item.key, obj)]
    if item.kind is KeyKind.MANIFEST:
        return [start_folder(ctx, item.product_id, trigger=item.key, from_manifest=True)]
    return [schedule_settle_check(ctx, SettleCheck(product_id=item.product_id), ctx.quiet_seconds)]
