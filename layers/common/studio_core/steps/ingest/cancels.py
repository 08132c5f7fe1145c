"""Stop paying on demand: cancel a job, or a whole catalogue's jobs.

Aiuta has no cancel, so a cancel stops what has not been paid yet: a job that has not created
its operations ends CANCELLED at once (its submit finds the cancel and creates nothing); a job
whose operations exist creates nothing more (no further regeneration round), copies what it paid
for when Aiuta finishes, and ends CANCELLED. A catalogue's cancel does that for every job of its
latest run: rows not started yet end CANCELLED without running (the job map reads each row's
status first), and the report counts them.

The same from anything that can write to the bucket: ``cancel/<name>.json`` with
``{"job_id": "..."}`` or ``{"catalogue": "inbox/<feed>.csv"}`` (and optionally ``"by"``).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from pydantic import ValidationError, model_validator

from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.queue_messages import S3Object
from studio_core.aws.reviews import ReviewCallbacks
from studio_core.aws.storage import FileTooLarge, Storage
from studio_core.domain.base import Model
from studio_core.domain.errors import InvalidJob, JobCancelled
from studio_core.domain.identity import catalogue_run_name
from studio_core.domain.jobs import describe_validation_error, parse_json_document
from studio_core.domain.keys import (
    CANCEL_ANSWER_SUFFIX,
    CATALOGUE_CHECK_NAME,
    CATALOGUE_RUN_ITEMS_NAME,
    INBOX,
    catalogue_report_prefix,
    catalogue_run_prefix,
)
from studio_core.domain.limits import MAX_REQUEST_FILE_BYTES, too_large
from studio_core.domain.record import JobRecord, JobStatus
from studio_core.observability import count, logger
from studio_core.steps.ingest.context import Ingest, Outcome, write_report

CANCELLERS = 16


class CancelRequest(Model):
    """``cancel/<name>.json``: which job, or which catalogue, and who asks."""

    job_id: str | None = None
    catalogue: str | None = None
    by: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> CancelRequest:
        if (self.job_id is None) == (self.catalogue is None):
            raise ValueError('name either "job_id" or "catalogue" (e.g. "inbox/feed.csv")')
        return self


def parse_cancel_request(raw: bytes, key: str) -> CancelRequest:
    document = parse_json_document(raw, key)
    if not isinstance(document, dict):
        raise InvalidJob(f'{key} must be a JSON object, like {{"job_id": "sku-1-0123abcd"}}')
    try:
        return CancelRequest.model_validate(document)
    except ValidationError as exc:
        raise InvalidJob(
            f"{key} is not a cancel request: " + "; ".join(describe_validation_error(exc))
        ) from None


@dataclass(frozen=True)
class Cancelled:
    """What a cancel did: jobs stopped before paying, jobs that finish what they paid for, and
    jobs that had ended already."""

    target: str
    stopped: list[str]
    finishing: list[str]
    ended: list[str]

    def document(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "stopped_before_paying": self.stopped,
            "finishing_what_was_paid": self.finishing,
            "already_ended": self.ended,
        }


def cancel_jobs(
    jobs: JobsTable,
    job_ids: list[str],
    *,
    by: str,
    at: str,
    target: str,
    reviews: ReviewCallbacks | None = None,
) -> Cancelled:
    def one(job_id: str) -> JobRecord | None:
        record = jobs.cancel(job_id, by=by, at=at)
        waiting = record is not None and record.status is JobStatus.AWAITING_REVIEW and record.review_token
        if waiting and reviews is not None:
            # Its execution waits for a decision: end the wait (Record failure ends it CANCELLED).
            assert record is not None and record.review_token is not None
            reviews.end_wait(record.review_token, JobCancelled.__name__, f"cancelled by {by} at {at}")
        return record

    with ThreadPoolExecutor(max_workers=CANCELLERS) as pool:
        records = [r for r in pool.map(one, job_ids) if r is not None]
    stopped = [r.job_id for r in records if r.status is JobStatus.CANCELLED and r.cancelled_by == by]
    finishing = [r.job_id for r in records if not r.status.is_terminal]
    ended = [r.job_id for r in records if r.job_id not in stopped and r.job_id not in finishing]
    count("JobsCancelRequested", len(job_ids))
    logger.info("cancelled", extra={"target": target, "stopped": len(stopped), "finishing": len(finishing)})
    return Cancelled(target, stopped, finishing, ended)


def cancel_job(
    jobs: JobsTable, job_id: str, *, by: str, at: str, reviews: ReviewCallbacks | None = None
) -> Cancelled:
    if jobs.get(job_id) is None:
        raise LookupError(f"there is no job {job_id!r}")
    return cancel_jobs(jobs, [job_id], by=by, at=at, target=job_id, reviews=reviews)


class NotCheckedYet(Exception):
    """The catalogue's latest upload is still being checked: its jobs are not known yet."""


def catalogue_jobs(storage: Storage, key: str) -> list[str]:
    """The jobs of the catalogue's latest run (the one its latest check quoted)."""
    checked_key = f"{catalogue_report_prefix(key)}{CATALOGUE_CHECK_NAME}"
    if not storage.exists(checked_key):
        if storage.exists(key):
            raise NotCheckedYet(f"{key} is still being checked; its jobs are known in a moment")
        raise LookupError(f"there is no catalogue {key!r}")
    checked = json.loads(storage.read_bytes(checked_key))
    run_name = checked.get("run_name") or catalogue_run_name(key, checked["version"])
    run_items = catalogue_run_prefix(key, run_name) + CATALOGUE_RUN_ITEMS_NAME
    return [item["job_id"] for item in json.loads(storage.read_bytes(run_items))]


def catalogue_key(name: str) -> str:
    """``feed.csv`` or ``inbox/feed.csv`` as the catalogue's key."""
    return name if name.startswith(INBOX) else f"{INBOX}{name}"


def cancel_catalogue(
    storage: Storage, jobs: JobsTable, name: str, *, by: str, at: str, reviews: ReviewCallbacks | None = None
) -> Cancelled:
    key = catalogue_key(name)
    return cancel_jobs(jobs, catalogue_jobs(storage, key), by=by, at=at, target=key, reviews=reviews)


def cancel_from_file(ctx: Ingest, key: str, obj: S3Object, principal: str | None) -> Outcome:
    """``cancel/<name>.json``: the job or catalogue it names is cancelled; a catalogue still being
    checked is looked at again shortly (its jobs are not known yet)."""
    try:
        raw, _ = ctx.storage.read_object(key, obj.versionId, max_bytes=MAX_REQUEST_FILE_BYTES)
        request = parse_cancel_request(raw, key)
        by = request.by or principal or f"a file {key}"
        at = ctx.clock().isoformat()
        if request.job_id is not None:
            done = cancel_job(ctx.jobs, request.job_id, by=by, at=at, reviews=ctx.reviews)
        else:
            assert request.catalogue is not None
            done = cancel_catalogue(
                ctx.storage, ctx.jobs, request.catalogue, by=by, at=at, reviews=ctx.reviews
            )
    except NotCheckedYet:
        if ctx.queue is None:
            write_report(ctx, key, None, "the catalogue is still being checked; write the cancel again", [])
            return Outcome.REJECTED
        ctx.queue.send_later(_event_for(key, obj), CANCEL_RETRY_SECONDS)
        return Outcome.WAITING
    except (InvalidJob, LookupError) as exc:
        write_report(ctx, key, None, str(exc).strip("'\""), [])
        return Outcome.REJECTED
    except FileTooLarge as exc:
        write_report(ctx, key, None, too_large(key, exc.size, exc.limit) or "too large", [])
        return Outcome.REJECTED
    ctx.storage.put_json(f"{key}{CANCEL_ANSWER_SUFFIX}", {**done.document(), "by": by, "at": at})
    return Outcome.STARTED


CANCEL_RETRY_SECONDS = 10


def _event_for(key: str, obj: S3Object) -> dict[str, Any]:
    """The S3 event again, to look at the cancel file once more."""
    return {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"object": {**obj.model_dump(exclude_none=True), "key": quote_plus(key)}},
            }
        ]
    }
