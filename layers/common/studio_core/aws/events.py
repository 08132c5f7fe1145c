"""EventBridge: one event when a job ends, for a store's other systems (PIM, shop, chat).

Also ``Studio Images Published`` when a review's approved images reach ``published/`` (with
their keys and the feed's), and ``Studio Review Requested`` when a job starts waiting for one.

Every job that ends SUCCEEDED, PARTIAL, FAILED or TIMED_OUT in the state machine puts::

    source       studio.pipeline
    detail-type  Studio Job Finished
    detail       JobFinished (below): product and job ids, status, reason, the bucket,
                 result.json's key, the gallery's key and every image's key

on the stack's bus (``EVENT_BUS_NAME``). Delivery is at least once (a retried task puts it
again): a consumer keys on ``job_id`` and ``status``. A resumed job that ends again puts a new
event with its new status.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field

from studio_core.domain.base import Model
from studio_core.domain.gallery import gallery_key
from studio_core.domain.keys import result_key
from studio_core.domain.record import JobRecord
from studio_core.observability import count, logger

SOURCE = "studio.pipeline"
DETAIL_TYPE = "Studio Job Finished"
CATALOGUE_DETAIL_TYPE = "Studio Catalogue Finished"
PUBLISHED_DETAIL_TYPE = "Studio Images Published"
REVIEW_DETAIL_TYPE = "Studio Review Requested"


class JobFinished(Model):
    """The ``detail`` of a job's end event."""

    product_id: str
    job_id: str
    status: str
    reason: str | None = None
    bucket: str
    result_key: str
    gallery_key: str
    image_keys: list[str] = Field(default_factory=list)
    images_missing: int = 0
    base_job_id: str | None = None
    execution_name: str | None = None
    finished_at: str | None = None

    @classmethod
    def of(cls, record: JobRecord, bucket: str) -> JobFinished:
        return cls(
            product_id=record.product_id,
            job_id=record.job_id,
            status=record.status.value,
            reason=record.error,
            bucket=bucket,
            result_key=record.result_key or result_key(record.product_id, record.job_id),
            gallery_key=gallery_key(record.product_id, record.job_id),
            image_keys=[image.key for image in record.images if image.key],
            images_missing=sum(1 for image in record.images if not image.key),
            base_job_id=record.base_job_id,
            execution_name=record.execution_name,
            finished_at=record.finished_at,
        )


class JobEvents:
    """Puts job events on one bus; with no bus name configured it puts nothing."""

    def __init__(self, bus_name: str, events_client: Any | None = None) -> None:
        self.bus_name = bus_name
        self._client = events_client

    def job_finished(self, record: JobRecord, bucket: str) -> bool:
        """Puts the job's end event; False (logged, counted as ``JobEventsNotPut``) if it could not.

        A job that succeeded does not fail because an integration event could not be put: the
        record and result.json stay the truth, and the ``JobEventsNotPut`` alarm says to look.
        """
        detail = JobFinished.of(record, bucket)
        return self._put(DETAIL_TYPE, detail.model_dump(mode="json"), record.job_id)

    def catalogue_finished(self, report: dict[str, Any]) -> bool:
        """Puts ``Studio Catalogue Finished``: the catalogue's key and version and its report's counts
        (rows by outcome, jobs by status, operations and images quoted and paid)."""
        return self._put(CATALOGUE_DETAIL_TYPE, report, str(report.get("catalogue")))

    def images_published(self, detail: dict[str, Any]) -> bool:
        """Puts ``Studio Images Published``: the product, the job, the published images (key, link,
        checksum, type) and the feed's keys."""
        return self._put(PUBLISHED_DETAIL_TYPE, detail, str(detail.get("job_id")))

    def review_requested(self, detail: dict[str, Any]) -> bool:
        """Puts ``Studio Review Requested``: a job waits for a person's decision (until its deadline)."""
        return self._put(REVIEW_DETAIL_TYPE, detail, str(detail.get("job_id")))

    def _put(self, detail_type: str, detail: dict[str, Any], subject: str) -> bool:
        if not self.bus_name:
            return False
        entry = {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, default=str),
            "EventBusName": self.bus_name,
            "Resources": [],
        }
        try:
            answer = self._events().put_events(Entries=[entry])
        except (BotoCoreError, ClientError) as exc:
            return self._not_put(subject, str(exc))
        if answer.get("FailedEntryCount"):
            failed = (answer.get("Entries") or [{}])[0]
            return self._not_put(subject, f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}")
        logger.info("event put", extra={"detail_type": detail_type, "bus": self.bus_name})
        return True

    def _events(self) -> Any:
        if self._client is None:
            self._client = boto3.client("events")
        return self._client

    def _not_put(self, subject: str, reason: str) -> bool:
        logger.error("event not put", extra={"subject": subject, "reason": reason})
        count("JobEventsNotPut")
        return False
