"""Product folders: ``inbox/<product>/`` photos, with or without ``product.json``.

``product.json`` starts the product's job at once (when it has images or ``image_urls``);
photos alone start it once the folder has been quiet for ``INBOX_QUIET_SECONDS`` (a delayed
settle-check message re-checks the folder).
"""

from __future__ import annotations

from studio_core.aws.queue_messages import SettleCheck
from studio_core.aws.storage import StoredObject
from studio_core.domain.errors import InvalidJob
from studio_core.domain.jobs import build_job, parse_json_document
from studio_core.domain.keys import (
    KeyKind,
    classify_key,
    job_id_for,
    manifest_key,
    product_folder,
    product_id_problem,
    rejection_id,
)
from studio_core.domain.record import RequestKind
from studio_core.domain.state import JobState
from studio_core.observability import logger
from studio_core.steps.ingest.context import Ingest, Outcome, reject, start_job
from studio_core.steps.ingest.images import first_unreadable_image

MAX_SETTLE_CHECKS = 50


def schedule_settle_check(ctx: Ingest, check: SettleCheck, delay_seconds: float) -> Outcome:
    if ctx.queue is None or check.attempt > MAX_SETTLE_CHECKS:
        return start_folder(ctx, check.product_id, trigger=product_folder(check.product_id))
    ctx.queue.send_later({"settle_check": check.model_dump()}, int(delay_seconds) + 1)
    return Outcome.WAITING


def settle_check(ctx: Ingest, check: SettleCheck) -> Outcome:
    objects = ctx.storage.list_objects(product_folder(check.product_id))
    if not objects:
        return Outcome.SKIPPED
    age = (ctx.clock() - max(o.last_modified for o in objects)).total_seconds()
    if age < ctx.quiet_seconds:
        again = SettleCheck(product_id=check.product_id, attempt=check.attempt + 1)
        return schedule_settle_check(ctx, again, ctx.quiet_seconds - age)
    # The folder was listed a moment ago to see it is quiet: start from that listing, not a second LIST.
    return start_folder(ctx, check.product_id, trigger=product_folder(check.product_id), objects=objects)


def reject_invalid_id(ctx: Ingest, product_id: str, key: str, problem: str) -> Outcome:
    """One rejection for a folder whose name is not a product id, whichever of its files (and
    events, and settle checks) report it."""
    return reject(ctx, product_id, key, "", problem, job_id=rejection_id(product_id, "invalid product id"))


def start_folder(
    ctx: Ingest,
    product_id: str,
    *,
    trigger: str,
    from_manifest: bool = False,
    objects: list[StoredObject] | None = None,
) -> Outcome:
    if problem := product_id_problem(product_id, folder=True):
        return reject_invalid_id(ctx, product_id, trigger, problem)
    if objects is None:
        objects = ctx.storage.list_objects(product_folder(product_id))
    classified = [(classify_key(o.key), o) for o in objects]
    images = sorted((o for c, o in classified if c.kind is KeyKind.IMAGE), key=lambda o: o.key)
    manifest = next((o for c, o in classified if c.kind is KeyKind.MANIFEST), None)
    if from_manifest and manifest is None:
        logger.info(
            "product.json is gone since its event; nothing to start", extra={"product_id": product_id}
        )
        return Outcome.SKIPPED
    fingerprint = [f"{o.key}@{o.etag}" for o in [*images, *([manifest] if manifest else [])]]
    job_id = job_id_for(product_id, *fingerprint)
    source = manifest.key if manifest else trigger
    try:
        document = None
        if manifest is not None:
            document = parse_json_document(ctx.storage.read_bytes(manifest.key), manifest_key(product_id))
        spec = build_job(
            product_id,
            document,
            image_count=len(images),
            defaults=ctx.defaults,
            allow_private_image_urls=ctx.allow_private_image_urls,
        )
    except InvalidJob as exc:
        if from_manifest and not images and "no images" in str(exc):
            # The photos may still be uploading: look again once the folder is quiet.
            return schedule_settle_check(ctx, SettleCheck(product_id=product_id), ctx.quiet_seconds)
        return reject_folder(ctx, product_id, source, manifest.etag if manifest else "", str(exc))
    if not from_manifest and manifest is not None and _manifest_already_used(ctx, product_id, manifest.etag):
        return Outcome.DUPLICATE
    unreadable = first_unreadable_image(ctx.storage, [o.key for o in images])
    if unreadable:
        message = f"product {product_id!r}: {unreadable}"
        return reject_folder(ctx, product_id, source, manifest.etag if manifest else "", message)
    state = JobState(job_id=job_id, product_id=product_id, job=spec, input_keys=[o.key for o in images])
    return start_job(
        ctx,
        state,
        request_kind=RequestKind.FOLDER,
        source_key=source,
        manifest_etag=manifest.etag if manifest else None,
    )


def reject_folder(ctx: Ingest, product_id: str, source: str, manifest_etag: str, message: str) -> Outcome:
    """One rejection per folder and problem: the photos' events and settle checks that find the
    same problem again are duplicates of it (a changed product.json is a new attempt)."""
    job_id = rejection_id(product_id, manifest_etag, message)
    return reject(ctx, product_id, source, manifest_etag, message, job_id=job_id)


def _manifest_already_used(ctx: Ingest, product_id: str, etag: str) -> bool:
    return any(job.manifest_etag == etag for job in ctx.jobs.for_product(product_id))
