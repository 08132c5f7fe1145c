"""Regeneration requests: ``regenerate/<product>/<request>.json`` (or the older
``regenerate/<product>.json``) asks for a round of on-figure types for a product's latest job (or
the job it names), run as a job of its own.

A request is a work item, not a trigger (``domain.identity.regeneration_identity``): identical
requests for one job are one round, whatever their keys; a request is read at the version its
event named. A job's on-demand rounds count against its ``regeneration.max_rounds`` (and the
template's ``MaxRegenerationRounds``), and a request past them is refused with the reason. The
requests for one job take turns: while one runs, the next waits on the queue and is looked at
again, so each is counted (and charged) after the one before it.
"""

from __future__ import annotations

from studio_core.aws.queue_messages import RegenerationTurn, S3Object
from studio_core.aws.storage import FileTooLarge
from studio_core.domain.errors import InvalidJob
from studio_core.domain.identity import Decision, regeneration_identity, rejection_id
from studio_core.domain.jobs import parse_regeneration_request
from studio_core.domain.limits import MAX_REQUEST_FILE_BYTES, too_large
from studio_core.domain.quote import Quote, round_cost
from studio_core.domain.record import JobRecord, RequestKind
from studio_core.domain.state import JobState, PendingRound
from studio_core.domain.vocabulary import Kind
from studio_core.observability import count, logger
from studio_core.steps.ingest.context import Ingest, Outcome, reject, start_work

# A request waiting for its turn is looked at again after this long, at most this many times.
TURN_SECONDS = 30
MAX_TURN_CHECKS = 240


def start_regeneration(ctx: Ingest, product_id: str, key: str, obj: S3Object, attempt: int = 1) -> Outcome:
    asked_by = f"{key}@{obj.version}"
    if not ctx.storage.exists(key, obj.versionId):
        logger.info("the regeneration request is gone since its event; nothing to start", extra={"key": key})
        return Outcome.SKIPPED
    try:
        raw, _ = ctx.storage.read_object(key, obj.versionId, max_bytes=MAX_REQUEST_FILE_BYTES)
        request = parse_regeneration_request(raw, product_id, key)
        base = regeneration_base(ctx, product_id, request.job_id)
    except FileTooLarge as exc:
        message = f"regeneration request {key}: " + (too_large("it", exc.size, exc.limit) or "too large")
        return reject(
            ctx, product_id, key, obj.version, message, job_id=rejection_id(product_id, key, obj.version)
        )
    except InvalidJob as exc:
        return reject(
            ctx, product_id, key, obj.version, str(exc), job_id=rejection_id(product_id, key, obj.version)
        )
    assert base.job is not None  # regeneration_base only picks jobs that ran
    labels = [t.label for t in request.image_types]
    identity = regeneration_identity(product_id, base.job_id, labels, request.number_of_generations)
    # The base job copied these and paid for them; this job copies and pays only its own round.
    operations = [
        op.model_copy(update={"copied": False, "inherited": True})
        for op in base.finished_on_figure_operations()
    ]
    generations = request.number_of_generations or operations[0].number_of_generations
    state = JobState(
        job_id="",
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
    cost = round_cost(len(labels), generations)

    def take_turn(decision: Decision) -> Outcome | str | None:
        """Under the base job's turn: None to go on, a reason to refuse, or WAITING."""
        if not ctx.jobs.take_regeneration_turn(base.job_id, decision.job_id):
            return _wait_for_turn(
                ctx, RegenerationTurn(product_id=product_id, key=key, object=obj, attempt=attempt)
            )
        used = rounds_used(ctx, base)
        limit = min(base.job.regeneration.max_rounds if base.job else 0, ctx.regeneration_rounds_ceiling)
        if used >= limit:
            count("RegenerationRequestsRefused")
            return (
                f"cannot regenerate: job {base.job_id} has had {used} regeneration round(s) and may have "
                f"{limit} (its regeneration.max_rounds, at most the template's MaxRegenerationRounds); "
                "submit the product again with a higher max_rounds for more"
            )
        return None

    return start_work(
        ctx,
        identity,
        state,
        asked_by=asked_by,
        force=bool(request.force),
        quote=Quote(operations=cost.operations, images=cost.images),
        request_kind=RequestKind.REGENERATION,
        source_key=key,
        base_job_id=base.job_id,
        before_start=take_turn,
    )


def _wait_for_turn(ctx: Ingest, turn: RegenerationTurn) -> Outcome | str:
    if ctx.queue is None or turn.attempt >= MAX_TURN_CHECKS:
        return (
            "cannot regenerate yet: another regeneration of the same job is still running; "
            "send the request again once it has ended"
        )
    again = turn.model_copy(update={"attempt": turn.attempt + 1})
    ctx.queue.send_later({"regeneration_turn": again.model_dump(mode="json")}, TURN_SECONDS)
    logger.info(
        "waiting for the job's earlier regeneration", extra={"key": turn.key, "attempt": turn.attempt}
    )
    return Outcome.WAITING


def rounds_used(ctx: Ingest, base: JobRecord) -> int:
    """The regeneration rounds a job has had: its own, and each requested one that ran or runs."""
    own = max((op.round for op in base.operations), default=0)
    requested = [
        record
        for record in ctx.jobs.for_product(base.product_id)
        if record.base_job_id == base.job_id
        and record.request_kind is RequestKind.REGENERATION
        and (not record.status.is_terminal or record.paid().operations > 0)
    ]
    return own + len(requested)


def regeneration_base(ctx: Ingest, product_id: str, job_id: str | None) -> JobRecord:
    """The job whose latest finished on-figure operation a regeneration builds on."""
    if job_id:
        named = ctx.jobs.get(job_id)
        if named is not None and named.request_kind is RequestKind.REGENERATION and named.base_job_id:
            # A round of a round is a round of the job it came from: the same work, counted once.
            named = ctx.jobs.get(named.base_job_id) or named
        records = [named] if named and named.product_id == product_id else []
        if not records:
            raise InvalidJob(f"cannot regenerate: there is no job {job_id!r} of product {product_id!r}")
    else:
        records = [
            r
            for r in reversed(ctx.jobs.for_product(product_id))
            if r.request_kind is not RequestKind.REGENERATION
        ]
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
