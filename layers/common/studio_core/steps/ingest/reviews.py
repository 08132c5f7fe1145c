"""Review decisions: ``review/<product>/<job>/<name>.json`` answers a job waiting for review.

Read at the version its event named, the file is checked against the job (``domain.review``),
named by what it says (``domain.identity.review_decision_id``: the same decision twice is one,
and a redelivered event is a duplicate), quoted and charged to the day's image budget when it
asks for new images, recorded on the job (who, when, what, its price) and handed to the waiting
execution (``SendTaskSuccess``). A decision that cannot apply gets ``<key>.error.json`` with the
reason and the job keeps waiting; one that applied gets ``<key>.done.json`` saying what happens.

A decision for a job that has not reached its review yet waits on the queue and is looked at
again; one for a job that has ended may only approve images, which are published at once (a late
approval: the review's deadline passed, or the job had no review).
"""

from __future__ import annotations

from typing import Any

from studio_core.aws.publishing import publish_late_approval
from studio_core.aws.queue_messages import ReviewTurn, S3Object
from studio_core.domain.budget import budget_day, over_budget_reason
from studio_core.domain.errors import InvalidDecision
from studio_core.domain.identity import review_decision_id
from studio_core.domain.keys import REVIEW_ANSWER_SUFFIX
from studio_core.domain.record import JobRecord, JobStatus, ReviewDecisionRecord
from studio_core.domain.review import DecisionFile, describe_decision, parse_decision_file, plan_decision
from studio_core.observability import count, logger
from studio_core.steps.ingest.context import Ingest, Outcome, write_report

# A decision for a job that is still generating is looked at again after this long, this many times.
TURN_SECONDS = 10
MAX_TURN_CHECKS = 720


def review_from_file(
    ctx: Ingest,
    key: str,
    product_id: str,
    job_id: str,
    obj: S3Object,
    principal: str | None,
    attempt: int = 1,
) -> Outcome:
    source = f"{key}@{obj.version}"
    if not ctx.storage.exists(key, obj.versionId):
        logger.info("the decision file is gone since its event; nothing to do", extra={"key": key})
        return Outcome.SKIPPED
    record = ctx.jobs.get(job_id)
    try:
        decision = parse_decision_file(ctx.storage.read_bytes(key, obj.versionId), key)
        if record is None or record.product_id != product_id:
            raise InvalidDecision(f"there is no job {job_id!r} of product {product_id!r}")
        if decision.job_id not in (None, job_id):
            raise InvalidDecision(f"{key} names job {decision.job_id!r} but lies under job {job_id!r}")
    except InvalidDecision as exc:
        return _refuse(ctx, key, product_id, str(exc))
    if any(d.source == source for d in record.review_decisions):
        logger.info("duplicate delivery: the decision is recorded", extra={"key": key})
        return _hand_over_again(ctx, record, source)
    by = decision.by or principal or f"a file {key}"
    at = ctx.clock().isoformat(timespec="seconds")
    if record.status.is_terminal:
        return _late(ctx, record, decision, key=key, source=source, by=by, at=at)
    if record.status is not JobStatus.AWAITING_REVIEW or not record.review_token:
        return _wait_for_review(
            ctx, ReviewTurn(product_id=product_id, job_id=job_id, key=key, object=obj, attempt=attempt)
        )
    waiting_on = record.review_round if record.review_round is not None else record.round
    if decision.round is not None and decision.round != waiting_on:
        return _refuse(
            ctx,
            key,
            product_id,
            f"the decision answers round {decision.round}, but the job now waits for a decision on round "
            f"{waiting_on} (new images came since): look at the job again and write a new decision",
        )
    decision_id = review_decision_id(job_id, waiting_on, decision.canonical())
    if any(d.decision_id == decision_id for d in record.review_decisions):
        logger.info("the same decision again: it was taken already", extra={"decision": decision_id})
        count("DuplicateDecisions")
        return Outcome.DUPLICATE
    try:
        planned = plan_decision(
            decision,
            record,
            rounds_limit=_rounds_limit(ctx, record),
            decision_id=decision_id,
            by=by,
            at=at,
            source=source,
        )
    except InvalidDecision as exc:
        return _refuse(ctx, key, product_id, f"job {job_id}: {exc}; it still waits for a decision")
    if refused := _over_budget(ctx, planned):
        return _refuse(ctx, key, product_id, f"job {job_id}: {refused}; it still waits for a decision")
    if not ctx.jobs.take_review_decision(job_id, planned, token=record.review_token):
        # Another decision is being handed over: this one is looked at once the job waits again.
        return _wait_for_review(
            ctx, ReviewTurn(product_id=product_id, job_id=job_id, key=key, object=obj, attempt=attempt)
        )
    return _hand_over(ctx, record.review_token, planned, key)


def _hand_over(ctx: Ingest, token: str, decision: ReviewDecisionRecord, key: str) -> Outcome:
    assert ctx.reviews is not None, "ingest hands decisions over with the Step Functions client"
    delivered = ctx.reviews.send_decision(token, {"decision_id": decision.decision_id})
    answer: dict[str, Any] = {
        "decision_id": decision.decision_id,
        "by": decision.by,
        "at": decision.at,
        "round": decision.round,
        "what": describe_decision(decision),
        "quote": decision.quote.model_dump(),
        "next": "new images are made, then the job comes back to review"
        if decision.asks_for_images
        else "the approved images are published",
    }
    if not delivered:
        answer["next"] = "nothing: the job had stopped waiting (its deadline passed, or it was cancelled)"
        logger.warning("the job no longer waited for this decision", extra={"decision": decision.decision_id})
    ctx.storage.put_json(f"{key}{REVIEW_ANSWER_SUFFIX}", answer)
    count("ReviewDecisions")
    logger.info(
        "review decision handed over", extra={"decision": decision.decision_id, "what": answer["what"]}
    )
    return Outcome.STARTED if delivered else Outcome.REJECTED


def _hand_over_again(ctx: Ingest, record: JobRecord, source: str) -> Outcome:
    """A redelivered event whose decision was recorded: hand it over again if the job still waits on
    it (an earlier delivery may have stopped between the record and the hand-over)."""
    decision = next(d for d in record.review_decisions if d.source == source)
    if record.review_pending == decision.decision_id and record.review_token and ctx.reviews is not None:
        ctx.reviews.send_decision(record.review_token, {"decision_id": decision.decision_id})
    count("DuplicateDeliveries")
    return Outcome.DUPLICATE


def _late(
    ctx: Ingest, record: JobRecord, decision: DecisionFile, *, key: str, source: str, by: str, at: str
) -> Outcome:
    """A decision for a job that has ended: approvals are published at once; nothing is made again."""
    if ctx.publisher is None or not any(image.key for image in record.images):
        return _refuse(
            ctx,
            key,
            record.product_id,
            f"job {record.job_id} has ended {record.status.value} with no images to approve",
        )
    # Named like any decision on the round it answers: one already taken (a copy of it arriving
    # after the job ended) is a duplicate, not a second publish.
    answered = record.review_round if record.review_round is not None else record.round
    decision_id = review_decision_id(record.job_id, answered, decision.canonical())
    if any(d.decision_id == decision_id for d in record.review_decisions):
        count("DuplicateDecisions")
        return Outcome.DUPLICATE
    try:
        planned = plan_decision(
            decision, record, rounds_limit=0, decision_id=decision_id, by=by, at=at, source=source, late=True
        )
    except InvalidDecision as exc:
        return _refuse(ctx, key, record.product_id, f"job {record.job_id}: {exc}")
    published = publish_late_approval(ctx.publisher, ctx.jobs, record, planned)
    ctx.storage.put_json(
        f"{key}{REVIEW_ANSWER_SUFFIX}",
        {
            "decision_id": decision_id,
            "by": by,
            "at": at,
            "what": describe_decision(planned),
            "late": True,
            "published": [image.key for image in published],
        },
    )
    count("ReviewDecisions")
    return Outcome.STARTED


def _rounds_limit(ctx: Ingest, record: JobRecord) -> int:
    own = record.job.regeneration.max_rounds if record.job is not None else 0
    return min(own, ctx.regeneration_rounds_ceiling)


def _over_budget(ctx: Ingest, decision: ReviewDecisionRecord) -> str | None:
    """Charges what the decision asks Aiuta for; the reason when the day's budget has no room."""
    if ctx.budget is None or decision.quote.images == 0:
        return None
    charge = ctx.budget.charge(decision.decision_id, decision.quote.images, budget_day(ctx.clock()))
    if charge.granted:
        return None
    count("RequestsOverBudget")
    return over_budget_reason(
        decision.quote.images,
        limit=charge.limit,
        used=charge.used_before,
        scope="today's budget",
        parameter="ImagesPerDayLimit",
    )


def _wait_for_review(ctx: Ingest, turn: ReviewTurn) -> Outcome:
    if ctx.queue is None or turn.attempt >= MAX_TURN_CHECKS:
        return _refuse(
            ctx,
            turn.key,
            turn.product_id,
            f"job {turn.job_id} does not wait for a review decision (it is still making its images, or "
            "another decision is being applied): write the decision again once `studio status` says "
            "AWAITING_REVIEW",
        )
    again = turn.model_copy(update={"attempt": turn.attempt + 1})
    ctx.queue.send_later({"review_turn": again.model_dump(mode="json")}, TURN_SECONDS)
    logger.info("the job does not wait for a decision yet; looking again", extra={"key": turn.key})
    return Outcome.WAITING


def _refuse(ctx: Ingest, key: str, product_id: str, message: str) -> Outcome:
    logger.warning("review decision refused", extra={"key": key, "reason": message})
    count("ReviewDecisionsRefused")
    write_report(ctx, key, product_id, message, [])
    return Outcome.REJECTED
