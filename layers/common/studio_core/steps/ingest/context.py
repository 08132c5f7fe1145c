"""What every ingest path shares: its adapters, the defaults, and one way to start or reject a job.

A job's id comes from the work it does (``domain.identity``: product, input content, settings),
so a duplicate delivery, a re-uploaded folder or a re-sent request finds the job that already did
the work and starts nothing (``start_work``). Invalid input becomes a FAILED job with a readable
reason and an error report beside the input; the message is consumed (no retry loop). AWS errors
propagate, so SQS redelivers the message and finally dead-letters it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from studio_core.aws.budget import ImageBudget
from studio_core.aws.executions import Executions, IngestQueue
from studio_core.aws.jobs_table import JobsTable, WorkRecord
from studio_core.aws.publishing import Publisher
from studio_core.aws.reviews import ReviewCallbacks
from studio_core.aws.storage import Storage
from studio_core.domain.budget import budget_day, over_budget_reason
from studio_core.domain.identity import (
    Decision,
    Novelty,
    WorkIdentity,
    decide,
    execution_name,
    rejection_id,
    spelling_conflict,
)
from studio_core.domain.jobs import JobDefaults
from studio_core.domain.keys import error_report_key
from studio_core.domain.quote import Quote
from studio_core.domain.record import RequestKind
from studio_core.domain.state import JobState
from studio_core.observability import count, logger


class Outcome(StrEnum):
    STARTED = "started"
    UNCHANGED = "unchanged"  # work a job already did: nothing starts
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
    # The day's image budget (ImagesPerDayLimit); None: no limit.
    budget: ImageBudget | None = None
    # On-demand regeneration rounds a job may have, whatever its own max_rounds says.
    regeneration_rounds_ceiling: int = 5
    # Review decisions: handed to the waiting execution (task token), or published at once when
    # the job has ended (a late approval).
    reviews: ReviewCallbacks | None = None
    publisher: Publisher | None = None
    # Plans a new job's wait for capacity before its execution starts, while creates wait for a
    # request turn (``steps.capacity_wait.wait_behind_waiting_creates``); None: Submit finds out.
    admit_new_job: Callable[[dict[str, Any]], dict[str, Any]] | None = None


def start_work(
    ctx: Ingest,
    identity: WorkIdentity,
    state: JobState,
    *,
    asked_by: str,
    force: bool,
    quote: Quote,
    request_kind: RequestKind,
    source_key: str,
    input_checksums: list[str] | None = None,
    manifest_etag: str | None = None,
    base_job_id: str | None = None,
    before_start: Callable[[Decision], Outcome | str | None] | None = None,
) -> Outcome:
    """Starts ``state`` as a job unless its work was done already (``domain.identity.decide``).

    The product's first spelling wins (ids compare without case); ``before_start`` may refuse new
    work (a reason) or hold it back (an outcome); the day's image budget is charged before
    anything is sent to Aiuta. ``state.job_id`` is set here, from the decision."""
    product_id = identity.product_id
    spelling, known = ctx.jobs.register_product(product_id)
    if spelling != product_id:
        message = spelling_conflict(product_id, spelling)
        return reject(
            ctx, product_id, source_key, asked_by, message, job_id=rejection_id(product_id, message)
        )
    prior = ctx.jobs.latest_job_of(identity.job_id)
    decision = decide(identity, prior, asked_by=asked_by, product_known=known, force=force)
    if not decision.starts_work:
        return _no_new_work(ctx, decision, state, source_key)
    held = before_start(decision) if before_start is not None else None
    if isinstance(held, Outcome):
        return held
    if held is not None:
        return reject(ctx, product_id, source_key, asked_by, held, job_id=rejection_id(product_id, asked_by))
    if ctx.budget is not None:
        charge = ctx.budget.charge(decision.job_id, quote.images, budget_day(ctx.clock()))
        if not charge.granted:
            message = f"product {product_id!r}: " + over_budget_reason(
                quote.images,
                limit=charge.limit,
                used=charge.used_before,
                scope="today's budget",
                parameter="ImagesPerDayLimit",
            )
            count("RequestsOverBudget")
            return reject(
                ctx, product_id, source_key, asked_by, message, job_id=rejection_id(product_id, asked_by)
            )
    state.job_id = decision.job_id
    work = WorkRecord(
        identity=identity.digest,
        source_version=asked_by,
        first_job_id=identity.job_id,
        novelty=decision.novelty.value,
        forced=decision.novelty is Novelty.FORCED,
        retry_of=decision.prior_job_id if decision.novelty is Novelty.RETRY else None,
        input_checksums=input_checksums or [],
        quote=quote,
    )
    logger.info(
        "new work",
        extra={"job_id": decision.job_id, "novelty": decision.novelty.value, "prior": decision.prior_job_id},
    )
    return start_job(
        ctx,
        state,
        request_kind=request_kind,
        source_key=source_key,
        manifest_etag=manifest_etag,
        base_job_id=base_job_id,
        work=work,
    )


def _no_new_work(ctx: Ingest, decision: Decision, state: JobState, source_key: str) -> Outcome:
    """An unchanged request notes itself on the job that did its work; a duplicate makes sure the
    job's execution exists (an earlier delivery may have crashed between the record and the start)."""
    if decision.novelty is Novelty.UNCHANGED:
        ctx.jobs.note_unchanged(decision.job_id, source=source_key, at=ctx.clock().isoformat())
        logger.info(
            "unchanged: its work was done already", extra={"job_id": decision.job_id, "key": source_key}
        )
        count("UnchangedRequests")
        return Outcome.UNCHANGED
    existing = ctx.jobs.get(decision.job_id)
    if existing is not None and existing.status.value == "QUEUED" and existing.execution_name:
        state.job_id = decision.job_id
        ctx.executions.start(existing.execution_name, state.to_output())
    logger.info("duplicate delivery: the job already exists", extra={"job_id": decision.job_id})
    count("DuplicateDeliveries")
    return Outcome.DUPLICATE


def start_job(
    ctx: Ingest,
    state: JobState,
    *,
    request_kind: RequestKind,
    source_key: str,
    manifest_etag: str | None = None,
    catalogue_line: int | None = None,
    base_job_id: str | None = None,
    work: WorkRecord | None = None,
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
        work=work,
    )
    document = state.to_output()
    if created and ctx.admit_new_job is not None and state.pending_round is None and state.resume is None:
        document = ctx.admit_new_job(document)
    # Even for a known job the start is repeated: an earlier attempt may have crashed
    # between the record and the execution; the deterministic name makes it safe (a different
    # input, such as another planned wait, finds the execution that exists: a duplicate).
    started = ctx.executions.start(name, document)
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
    job_id = job_id or rejection_id(product_id, source_key, fingerprint)
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
