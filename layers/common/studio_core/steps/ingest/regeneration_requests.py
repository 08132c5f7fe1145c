"""Regeneration requests: ``regenerate/<product>/<request>.json`` (or the older
``regenerate/<product>.json``) adds a round to the product's latest job, as a job of its own.

Each request is its own job (its id derived from the key and the ETag), with its own round:
two requests in quick succession never overwrite each other when each has its own key, which
``studio regenerate`` always gives them.
"""

from __future__ import annotations

from studio_core.domain.errors import InvalidJob
from studio_core.domain.jobs import parse_regeneration_request
from studio_core.domain.keys import job_id_for
from studio_core.domain.record import JobRecord, RequestKind
from studio_core.domain.state import JobState, PendingRound
from studio_core.domain.vocabulary import Kind
from studio_core.observability import logger
from studio_core.steps.ingest.context import Ingest, Outcome, reject, start_job


def start_regeneration(ctx: Ingest, product_id: str, key: str, etag: str) -> Outcome:
    job_id = job_id_for(product_id, key, etag)
    if not ctx.storage.exists(key):
        logger.info("the regeneration request is gone since its event; nothing to start", extra={"key": key})
        return Outcome.SKIPPED
    try:
        request = parse_regeneration_request(ctx.storage.read_bytes(key), product_id, key)
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
        base_job_id=base.job_id,
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
    if job_id:
        named = ctx.jobs.get(job_id)
        records = [named] if named and named.product_id == product_id else []
        if not records:
            raise InvalidJob(f"cannot regenerate: there is no job {job_id!r} of product {product_id!r}")
    else:
        records = list(reversed(ctx.jobs.for_product(product_id)))
        if not records:
            raise InvalidJob(
                f"cannot regenerate: product {product_id!r} has no jobs yet "
                "(a regeneration builds on a job that ran; check the product id)"
            )
    for record in records:
        if record.job and record.finished_on_figure_operations():
            return record
    which = f"job {job_id!r}" if job_id else f"product {product_id!r}"
    if not any(record.job and Kind.ON_FIGURE in record.job.kind for record in records):
        raise InvalidJob(
            f"cannot regenerate: regeneration is on-figure only, and {which} made flat-lay shots only"
        )
    raise InvalidJob(
        f"cannot regenerate: {which} has no on-figure operation that succeeded yet "
        "(regeneration is on-figure only, and builds on a finished one)"
    )
