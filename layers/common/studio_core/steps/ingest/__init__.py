"""Ingest: turn new objects in the bucket into jobs, each started as one Step Functions execution.

One SQS message carries an S3 event (or S3's ``s3:TestEvent``, or our own delayed "settle
check"). What a key means is decided in ``keys.classify_key``:

- ``inbox/<product>/product.json`` starts the product's job at once (when it has images or
  ``image_urls``); photos alone start it once the folder has been quiet for
  ``INBOX_QUIET_SECONDS`` (a delayed settle-check message re-checks the folder).
- ``inbox/<feed>.csv|.jsonl`` starts one job per row; ``regenerate/<product>.json`` a
  regeneration of the product's latest on-figure job.

A job id is derived from the inputs (keys and ETags), so a duplicate delivery finds the same
job and the same execution name and starts nothing new. Invalid input becomes a FAILED job
with a readable reason and an error report beside the input; the message is consumed (no
retry loop). AWS errors propagate, so SQS redelivers the message and finally dead-letters it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from PIL import Image, UnidentifiedImageError

from studio_core.aiuta.models import OperationStatus
from studio_core.aws.executions import Executions, IngestQueue
from studio_core.aws.jobs_table import JobRecordStatus, JobsTable
from studio_core.aws.queue_messages import (
    S3TestEvent,
    SettleCheck,
    SettleCheckMessage,
    parse_message,
)
from studio_core.aws.storage import Storage
from studio_core.domain.catalogue import parse_catalogue
from studio_core.domain.errors import InvalidJob
from studio_core.domain.jobs import build_job, parse_json_document, parse_regeneration_request
from studio_core.domain.keys import (
    ClassifiedKey,
    KeyKind,
    classify_key,
    error_report_key,
    execution_name,
    job_id_for,
    manifest_key,
    product_folder,
    product_id_problem,
)
from studio_core.domain.state import JobState, Kind, PendingRound
from studio_core.observability import count, logger
from studio_core.settings import JobDefaults

MAX_SETTLE_CHECKS = 50


class Outcome(StrEnum):
    STARTED = "started"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    WAITING = "waiting"  # a settle check will look again
    SKIPPED = "skipped"


# The work


@dataclass
class Ingest:
    """Everything ingest needs, handed in by the handler (tests hand in moto-backed adapters)."""

    storage: Storage
    jobs: JobsTable
    executions: Executions
    queue: IngestQueue | None
    defaults: JobDefaults
    quiet_seconds: int = 60
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def handle_body(self, body: str) -> list[Outcome]:
        message = parse_message(body)
        if isinstance(message, S3TestEvent):
            logger.info("skipping s3:TestEvent (sent when the bucket notification is configured)")
            return [Outcome.SKIPPED]
        if isinstance(message, SettleCheckMessage):
            return [self.settle_check(message.settle_check)]
        outcomes = []
        for record in message.Records:
            if not record.eventName.startswith("ObjectCreated"):
                outcomes.append(Outcome.SKIPPED)
                continue
            outcomes.extend(self.on_new_object(classify_key(record.key), record.s3.object.eTag or ""))
        return outcomes

    def on_new_object(self, item: ClassifiedKey, etag: str) -> list[Outcome]:
        logger.info("new object", extra={"key": item.key, "meaning": item.kind.value})
        if item.kind is KeyKind.IGNORED:
            logger.info("ignored", extra={"key": item.key, "reason": item.reason})
            return [Outcome.SKIPPED]
        if item.kind is KeyKind.CATALOGUE:
            return self.start_catalogue(item.key, etag)
        assert item.product_id is not None
        problem = product_id_problem(item.product_id)
        if problem:
            return [self.reject(item.product_id, item.key, etag, problem)]
        if item.kind is KeyKind.REGENERATION:
            return [self.start_regeneration(item.product_id, item.key, etag)]
        if item.kind is KeyKind.MANIFEST:
            return [self.start_folder(item.product_id, trigger=item.key, from_manifest=True)]
        return [self.schedule_settle_check(SettleCheck(product_id=item.product_id), self.quiet_seconds)]

    # Product folders

    def schedule_settle_check(self, check: SettleCheck, delay_seconds: float) -> Outcome:
        if self.queue is None or check.attempt > MAX_SETTLE_CHECKS:
            return self.start_folder(check.product_id, trigger=product_folder(check.product_id))
        self.queue.send_later({"settle_check": check.model_dump()}, int(delay_seconds) + 1)
        return Outcome.WAITING

    def settle_check(self, check: SettleCheck) -> Outcome:
        objects = self.storage.list_objects(product_folder(check.product_id))
        if not objects:
            return Outcome.SKIPPED
        age = (self.clock() - max(o.last_modified for o in objects)).total_seconds()
        if age < self.quiet_seconds:
            again = SettleCheck(product_id=check.product_id, attempt=check.attempt + 1)
            return self.schedule_settle_check(again, self.quiet_seconds - age)
        return self.start_folder(check.product_id, trigger=product_folder(check.product_id))

    def start_folder(self, product_id: str, *, trigger: str, from_manifest: bool = False) -> Outcome:
        objects = self.storage.list_objects(product_folder(product_id))
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
                document = parse_json_document(
                    self.storage.read_bytes(manifest.key), manifest_key(product_id)
                )
            spec = build_job(product_id, document, image_count=len(images), defaults=self.defaults)
        except InvalidJob as exc:
            if from_manifest and not images and "no images" in str(exc):
                # The photos may still be uploading: look again once the folder is quiet.
                return self.schedule_settle_check(SettleCheck(product_id=product_id), self.quiet_seconds)
            return self.reject(product_id, source, ",".join(fingerprint), str(exc), job_id=job_id)
        if (
            not from_manifest
            and manifest is not None
            and self._manifest_already_used(product_id, manifest.etag)
        ):
            return Outcome.DUPLICATE
        unreadable = self._unreadable_images([o.key for o in images])
        if unreadable:
            return self.reject(
                product_id,
                source,
                ",".join(fingerprint),
                f"product {product_id!r}: {unreadable}",
                job_id=job_id,
            )
        state = JobState(
            job_id=job_id, product_id=product_id, job=spec.to_state(), input_keys=[o.key for o in images]
        )
        extra = {"manifest_etag": manifest.etag} if manifest else {}
        return self.start(state, source_key=source, request_kind="folder", **extra)

    def _manifest_already_used(self, product_id: str, etag: str) -> bool:
        return any(job.get("manifest_etag") == etag for job in self.jobs.for_product(product_id))

    def _unreadable_images(self, keys: list[str]) -> str | None:
        for key in keys:
            try:
                with Image.open(io.BytesIO(self.storage.read_bytes(key))) as picture:
                    picture.verify()
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                name = key.rsplit("/", 1)[-1]
                return f"{name} is not a readable image ({exc}); replace it with a JPEG, PNG or WebP photo"
        return None

    # Catalogues and regeneration requests

    def start_catalogue(self, key: str, etag: str) -> list[Outcome]:
        try:
            rows = parse_catalogue(self.storage.read_bytes(key), key)
        except InvalidJob as exc:
            self._write_report(key, None, str(exc), [])
            count("JobsRejected")
            return [Outcome.REJECTED]
        outcomes, problems = [], []
        for row in rows:
            if row.problem or row.product_id is None:
                problems.append(row.problem or f"line {row.line}: no product id")
                outcomes.append(Outcome.REJECTED)
                continue
            job_id = job_id_for(row.product_id, key, etag, str(row.line))
            try:
                if problem := product_id_problem(row.product_id):
                    raise InvalidJob(problem)
                spec = build_job(row.product_id, row.document, image_count=0, defaults=self.defaults)
            except InvalidJob as exc:
                problems.append(f"line {row.line}: {exc}")
                outcomes.append(self._record_rejection(job_id, row.product_id, key, str(exc)))
                continue
            state = JobState(job_id=job_id, product_id=row.product_id, job=spec.to_state())
            outcomes.append(
                self.start(state, source_key=key, request_kind="catalogue", catalogue_line=row.line)
            )
        if problems:
            self._write_report(key, None, f"{len(problems)} of {len(rows)} rows are invalid", problems)
        return outcomes

    def start_regeneration(self, product_id: str, key: str, etag: str) -> Outcome:
        job_id = job_id_for(product_id, key, etag)
        try:
            request = parse_regeneration_request(self.storage.read_bytes(key), product_id)
            base = self._regeneration_base(product_id, request.job_id)
        except InvalidJob as exc:
            return self.reject(product_id, key, etag, str(exc), job_id=job_id)
        operations = [op for op in base.operations if op.round == base.round]
        state = JobState(
            job_id=job_id,
            product_id=product_id,
            job=base.job,
            operations=operations,
            round=base.round,
            pending_round=PendingRound(
                image_types=[t.model_dump(mode="json") for t in request.image_types],
                number_of_generations=request.number_of_generations,
                reason=f"requested in {key}",
            ),
        )
        return self.start(state, source_key=key, request_kind="regeneration", base_job_id=base.job_id)

    def _regeneration_base(self, product_id: str, job_id: str | None) -> JobState:
        """The job whose latest finished on-figure operation a regeneration builds on."""
        records = [self.jobs.get(job_id)] if job_id else list(reversed(self.jobs.for_product(product_id)))
        for record in records:
            if not record or record.get("product_id") != product_id:
                continue
            ops = [
                op
                for op in record.get("operations", [])
                if op.get("kind") == Kind.ON_FIGURE.value
                and op.get("status") == OperationStatus.SUCCESS.value
            ]
            if ops:
                latest = max(op.get("round", 0) for op in ops)
                return JobState(
                    job_id=record["job_id"],
                    product_id=product_id,
                    job=record["job"],
                    operations=[op for op in ops if op.get("round", 0) == latest],
                    round=latest,
                )
        which = f"job {job_id!r}" if job_id else f"any job of product {product_id!r}"
        raise InvalidJob(
            f"cannot regenerate: {which} has no finished on-figure operation "
            "(regeneration is on-figure only, and needs a job that succeeded)"
        )

    # Starting and rejecting

    def start(self, state: JobState, *, source_key: str, **attributes: Any) -> Outcome:
        name = execution_name(state.job_id)
        created = self.jobs.create(
            job_id=state.job_id,
            product_id=state.product_id,
            status=JobRecordStatus.QUEUED,
            job=state.job,
            input_keys=state.input_keys,
            source_key=source_key,
            execution_name=name,
            **attributes,
        )
        # Even for a known job the start is repeated: an earlier attempt may have crashed
        # between the record and the execution; the deterministic name makes it safe.
        started = self.executions.start(name, state.to_output())
        if created and started:
            logger.info("job started", extra={"job_id": state.job_id, "execution": name})
            count("JobsStarted")
            return Outcome.STARTED
        logger.info("duplicate delivery: the job already exists", extra={"job_id": state.job_id})
        count("DuplicateDeliveries")
        return Outcome.DUPLICATE

    def reject(
        self, product_id: str, source_key: str, fingerprint: str, message: str, *, job_id: str = ""
    ) -> Outcome:
        job_id = job_id or job_id_for(product_id, source_key, fingerprint)
        outcome = self._record_rejection(job_id, product_id, source_key, message)
        if outcome is Outcome.REJECTED:
            self._write_report(source_key, product_id, message, [], job_id=job_id)
        return outcome

    def _record_rejection(self, job_id: str, product_id: str, source_key: str, message: str) -> Outcome:
        logger.warning("invalid job", extra={"job_id": job_id, "reason": message})
        created = self.jobs.create(
            job_id=job_id,
            product_id=product_id,
            status=JobRecordStatus.FAILED,
            error=message,
            source_key=source_key,
            finished_at=self.clock().isoformat(),
        )
        if not created:
            return Outcome.DUPLICATE
        count("JobsRejected")
        return Outcome.REJECTED

    def _write_report(
        self,
        source_key: str,
        product_id: str | None,
        message: str,
        details: list[str],
        job_id: str | None = None,
    ) -> None:
        self.storage.put_json(
            error_report_key(source_key, product_id),
            {
                "source_key": source_key,
                "product_id": product_id,
                "job_id": job_id,
                "error": message,
                "details": details,
                "reported_at": self.clock().isoformat(),
            },
        )
