"""Product folders: ``inbox/<product>/`` photos, with or without ``product.json``.

``product.json`` starts the product's job at once (when it has images or ``image_urls``);
photos alone start it once the folder has been quiet for ``INBOX_QUIET_SECONDS`` (a delayed
settle-check message re-checks the folder).

The folder is listed with each file's version, and every file is read at that version, so what
is checked is what Aiuta gets. Its work (``domain.identity``) is the photos' content and the
job's settings: the same folder uploaded again starts nothing (``unchanged``), unless its job
file asks for ``"force": true``.
"""

from __future__ import annotations

from studio_core.aws.queue_messages import SettleCheck
from studio_core.aws.storage import StoredObject
from studio_core.domain.errors import InvalidJob
from studio_core.domain.identity import (
    folder_version,
    forced_by_metadata,
    job_identity,
    photo_checksum,
    rejection_id,
)
from studio_core.domain.jobs import build_job, parse_json_document
from studio_core.domain.keys import (
    MANIFEST_NAME,
    KeyKind,
    classify_key,
    manifest_key,
    product_folder,
    product_id_problem,
)
from studio_core.domain.limits import MAX_FOLDER_FILES, MAX_JOB_FILE_BYTES, MAX_PHOTO_BYTES, too_large
from studio_core.domain.photos import photo_problem
from studio_core.domain.quote import job_quote
from studio_core.domain.record import RequestKind
from studio_core.domain.state import JobState
from studio_core.observability import logger
from studio_core.steps.ingest.context import Ingest, Outcome, reject, start_work
from studio_core.steps.ingest.images import aiuta_input

MAX_SETTLE_CHECKS = 50
# A pending settle check whose message is this late is taken for lost: the next photo schedules one.
SETTLE_GRACE_SECONDS = 120


def schedule_settle_check(ctx: Ingest, check: SettleCheck, delay_seconds: float) -> Outcome:
    """One pending settle check per folder, however many photos arrive: a photo's event schedules
    one only if none is pending (2,000 photos are one check, not 2,000 listings of the folder)."""
    if ctx.queue is None or check.attempt > MAX_SETTLE_CHECKS:
        return start_folder(ctx, check.product_id, trigger=product_folder(check.product_id))
    now = ctx.clock().timestamp()
    if not ctx.jobs.claim_settle_check(
        check.product_id, until=now + delay_seconds + SETTLE_GRACE_SECONDS, now=now
    ):
        logger.debug("a settle check is pending for the folder", extra={"product_id": check.product_id})
        return Outcome.WAITING
    ctx.queue.send_later({"settle_check": check.model_dump()}, int(delay_seconds) + 1)
    return Outcome.WAITING


def settle_check(ctx: Ingest, check: SettleCheck) -> Outcome:
    # Released before the folder is listed: a photo arriving after the listing schedules a check of its own.
    ctx.jobs.release_settle_check(check.product_id)
    objects = ctx.storage.list_latest(product_folder(check.product_id), limit=MAX_FOLDER_FILES)
    if not objects:
        return Outcome.SKIPPED
    age = (ctx.clock() - max(o.last_modified for o in objects)).total_seconds()
    if age < ctx.quiet_seconds and len(objects) <= MAX_FOLDER_FILES:
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
        objects = ctx.storage.list_latest(product_folder(product_id), limit=MAX_FOLDER_FILES)
    if len(objects) > MAX_FOLDER_FILES:
        message = (
            f"product {product_id!r}: the folder holds more than {MAX_FOLDER_FILES} files; a product "
            "takes 1-20 photos and its product.json (move the rest out of the folder and upload "
            "product.json again)"
        )
        return reject(
            ctx, product_id, trigger, "", message, job_id=rejection_id(product_id, "too many files")
        )
    classified = [(classify_key(o.key), o) for o in objects]
    images = sorted((o for c, o in classified if c.kind is KeyKind.IMAGE), key=lambda o: o.key)
    manifest = next((o for c, o in classified if c.kind is KeyKind.MANIFEST), None)
    if from_manifest and manifest is None:
        logger.info(
            "product.json is gone since its event; nothing to start", extra={"product_id": product_id}
        )
        return Outcome.SKIPPED
    version = folder_version((o.key, o.version) for o in [*images, *([manifest] if manifest else [])])
    source = manifest.key if manifest else trigger
    forced = False
    try:
        document = None
        if manifest is not None:
            if problem := too_large(MANIFEST_NAME, manifest.size, MAX_JOB_FILE_BYTES):
                raise InvalidJob(f"product {product_id!r}: {problem}")
            raw, metadata = ctx.storage.read_object(manifest.key, manifest.version_id)
            forced = forced_by_metadata(metadata)
            document = parse_json_document(raw, manifest_key(product_id))
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
        return reject_folder(ctx, product_id, source, manifest.version if manifest else "", str(exc))
    checksums, inputs = [], []
    for photo in images:
        if problem := too_large(photo.key.rsplit("/", 1)[-1], photo.size, MAX_PHOTO_BYTES):
            message = f"product {product_id!r}: {problem} (a photo's size, not read)"
            return reject_folder(ctx, product_id, source, f"{photo.key}@{photo.version}", message)
        data, metadata = ctx.storage.read_object(photo.key, photo.version_id)
        forced = forced or forced_by_metadata(metadata)
        if problem := photo_problem(photo.key.rsplit("/", 1)[-1], data):
            message = f"product {product_id!r}: {problem}"
            return reject_folder(ctx, product_id, source, f"{photo.key}@{photo.version}", message)
        checksums.append(photo_checksum(data))
        inputs.append(aiuta_input(ctx.storage, photo.key, data, product_id, checksums[-1]))
    state = JobState(
        job_id="",
        product_id=product_id,
        job=spec,
        input_keys=inputs,
        input_versions={o.key: o.version_id for o in images if o.version_id and o.key in inputs},
    )
    return start_work(
        ctx,
        job_identity(product_id, spec, checksums),
        state,
        asked_by=version,
        force=bool(spec.force) or forced,
        quote=job_quote(spec),
        request_kind=RequestKind.FOLDER,
        source_key=source,
        input_checksums=checksums,
        manifest_etag=manifest.etag if manifest else None,
    )


def reject_folder(ctx: Ingest, product_id: str, source: str, culprit: str, message: str) -> Outcome:
    """One rejection per problem and the file version at fault (``culprit``: product.json's, or a
    photo's): the photos' events and settle checks that find it again are duplicates of it, and a
    changed file is a new attempt."""
    return reject(
        ctx, product_id, source, culprit, message, job_id=rejection_id(product_id, culprit, message)
    )
