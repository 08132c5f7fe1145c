"""Regeneration requests: ``regenerate/<product>.json`` adds a round to the product's latest job."""

from __future__ import annotations

from studio_core.domain.errors import InvalidJob
from studio_core.domain.jobs import parse_regeneration_request
from studio_core.domain.keys import job_id_for
from studio_core.domain.record import JobRecord, RequestKind
from studio_core.domain.state import JobState, PendingRound
from studio_core.steps.ingest.context import Ingest, Outcome, reject, start_job


def start_regeneration(ctx: Ingest, product_id: str, key: str, etag: str) -> Outcome:
    job_id = job_id_for(product_id, key, etag)
    try:
        request = parse_regeneration_request(ctx.storage.read_bytes(key), product_id)
        base = regeneration_base(ctx, product_id, request.job_id)
    except InvalidJob as exc:
        return reject(ctx, product_id, key, etag, str(exc), job_id=job_id)
    assert base.job is not None  # regeneration_base only picks jobs that ran
    # The base job copied these; this job copies only its own round.
    operations = [op.model_copy(update={"copied": False}) for op in base.finished_on_figure_operations()]
    state = JobState(
        job_id=job_id,
        product_id=product_id,
        job=base.job,
        operations=operations,
        round=operations[0].round,
        pending_round=PendingRound(
            image_types=list(request.image_types),
            number_of_generations=request.number_of_generations,
            reason=f"requested in {key}",
        ),
    )
    return start_job(
        ctx, state, request_kind=RequestKind.REGENERATION, source_key=key, base_job_id=base.job_id
    )


def regeneration_base(ctx: Ingest, product_id: str, job_id: str | None) -> JobRecord:
    """The job whose latest finished on-figure operation a regeneration builds on."""
    records = [ctx.jobs.get(job_id)] if job_id else list(reversed(ctx.jobs.for_product(product_id)))
    for record in records:
        if (
            record
            and record.product_id == product_id
            and record.job
            and record.finished_on_figure_operations()
        ):
            return record
    which = f"job {job_id!r}" if job_id else f"any job of product {product_id!r}"
    raise InvalidJob(
        f"cannot regenerate: {which} has no finished on-figure operation "
        "(regeneration is on-figure only, and needs a job that succeeded)"
    )
