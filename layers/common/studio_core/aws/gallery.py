"""Writes a job's gallery page into the outbox, with copies of its input photos beside it.

``outbox/<product>/<job>/index.html`` is rendered by ``domain.gallery``; the inputs are copied
to ``outbox/<product>/<job>/inputs/`` once, so the page keeps showing what the job was made from
after the inbox changes, and a downloaded job folder is complete. A regeneration job shows
the inputs of the job it regenerates.
"""

from __future__ import annotations

import mimetypes

from botocore.exceptions import BotoCoreError, ClientError

from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.gallery import (
    INPUTS_FOLDER,
    gallery_inputs,
    gallery_key,
    input_copy_key,
    render_gallery,
)
from studio_core.domain.keys import job_prefix
from studio_core.domain.record import JobRecord
from studio_core.observability import count, logger


def publish_gallery(storage: Storage, jobs: JobsTable, record: JobRecord) -> str | None:
    """Copies the inputs (once) and writes the page; returns its key.

    The page is a view of the record, never a reason to fail a job: an S3 error is logged,
    counted (``GalleryNotWritten``) and answered with None.
    """
    try:
        input_keys = _copy_inputs(storage, jobs, record)
        key = gallery_key(record.product_id, record.job_id)
        page = render_gallery(record, gallery_inputs(record, input_keys))
        storage.put_bytes(key, page.encode("utf-8"), "text/html; charset=utf-8")
    except (BotoCoreError, ClientError) as exc:
        logger.warning("gallery page not written", extra={"job_id": record.job_id, "reason": str(exc)})
        count("GalleryNotWritten")
        return None
    return key


def _copy_inputs(storage: Storage, jobs: JobsTable, record: JobRecord) -> list[str]:
    """The input keys whose copy is in the job's folder (copied now or before)."""
    sources = {key: [key] for key in record.input_keys}
    if not sources and record.base_job_id:
        base = jobs.get(record.base_job_id)
        if base is not None:
            # The base job's own copy first: the inbox may hold newer photos by now.
            sources = {
                key: [input_copy_key(base.product_id, base.job_id, key), key] for key in base.input_keys
            }
    if not sources:
        return []
    present = {
        o.key for o in storage.list_objects(job_prefix(record.product_id, record.job_id) + INPUTS_FOLDER)
    }
    copied = []
    for key, candidates in sources.items():
        target = input_copy_key(record.product_id, record.job_id, key)
        if target in present or _copy_first(storage, candidates, target):
            copied.append(key)
    return copied


def _copy_first(storage: Storage, candidates: list[str], target: str) -> bool:
    for source in candidates:
        try:
            data = storage.read_bytes(source)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                continue
            raise
        content_type = mimetypes.guess_type(source)[0] or "application/octet-stream"
        storage.put_bytes(target, data, content_type)
        return True
    logger.info("input photo no longer in the bucket", extra={"input": candidates[-1]})
    return False
