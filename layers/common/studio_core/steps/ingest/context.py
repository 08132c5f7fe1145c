"""What every ingest path shares: its adapters, the defaults, and one way to start or reject a job.

A job id is derived from the inputs (keys and ETags), so a duplicate delivery finds the same
job and the same execution name and starts nothing new. Invalid input becomes a FAILED job
with a readable reason and an error report beside the input; the message is consumed (no
retry loop). AWS errors propagate, so SQS redelivers the message and finally dead-letters it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from studio_core.aws.executions import Executions, IngestQueue
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.jobs import JobDefaults
from studio_core.domain.keys import error_report_key, execution_name, job_id_for
from studio_core.domain.record import RequestKind
from studio_core.domain.state import JobState
from studio_core.observability import count, logger


class Outcome(StrEnum):
    STARTED = "started"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    WAITING = "waiting"  # a settle check will look again
    SKIPPED = "skipped"


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
    # Catalogues run on their own state machine (statemachine/catalogue.asl.json), this many rows at once.
    catalogues: Executions | None = None
    catalogue_concurrency: int = 10
    # A job's image_urls may name loopback or private hosts (template parameter AllowPrivateImageUrls).
    allow_private_image_urls: bool = False


def start_job(
    ctx: Ingest,
    state: JobState,
    *,
    request_kind: RequestKind,
    source_key: str,
    manifest_etag: str | None = None,
    catalogue_line: int | None = None,
    base_job_id: str | None = None,
) -> Outcome:
    """Records the job (QUEUED) and starts its one execution, named after the job."""
    name = execution_name(state.job_id)
    created = ctx.jobs.create_queued(
        job_id=state.job_id,
        product_id=state.product_id,
        spec=state.job,
        request_kind=request_kind,
        source_key=source_key,
        execution_name=name,
        input_keys=state.input_keys,
        manifest_etag=manifest_etag,
        catalogue_line=catalogue_line,
        base_job_id=base_job_id,
    )
    # Even for a known job the start is repeated: an earlier attempt may have crashed
    # between the record and the execution; the deterministic name makes it safe.
    started = ctx.executions.start(name, state.to_output())
    if created and started:
        logger.info("job started", extra={"job_id": state.job_id, "execution": name})
        count("JobsStarted")
        return Outcome.STARTED
    logger.info("duplicate delivery: the job already exists", extra={"job_id": state.job_id})
    count("DuplicateDeliveries")
    return Outcome.DUPLICATE


def reject(
    ctx: Ingest, product_id: str, source_key: str, fingerprint: str, message: str, *, job_id: str = ""
) -> Outcome:
    """A FAILED job with the reason, and an error report beside the input (once per job)."""
    job_id = job_id or job_id_for(product_id, source_key, fingerprint)
    outcome = record_rejection(ctx, job_id, product_id, source_key, message)
    if outcome is Outcome.REJECTED:
        write_report(ctx, source_key, product_id, message, [], job_id=job_id)
    return outcome


def record_rejection(ctx: Ingest, job_id: str, product_id: str, source_key: str, message: str) -> Outcome:
    logger.warning("invalid job", extra={"job_id": job_id, "reason": message})
    created = ctx.jobs.record_rejection(
        job_id=job_id,
        product_id=product_id,
        source_key=source_key,
        error=message,
        finished_at=ctx.clock().isoformat(),
    )
    if not created:
        return Outcome.DUPLICATE
    count("JobsRejected")
    return Outcome.REJECTED


def write_report(
    ctx: Ingest,
    source_key: str,
    product_id: str | None,
    message: str,
    details: list[str],
    job_id: str | None = None,
) -> None:
    ctx.storage.put_json(
        error_report_key(source_key, product_id),
        {
            "source_key": source_key,
            "product_id": product_id,
            "job_id": job_id,
            "error": message,
            "details": details,
            "reported_at": ctx.clock().isoformat(),
        },
    )
