"""The review's tasks in the job's state machine (``statemachine/studio_job.asl.json``).

- "Wait for review" (``await_review``): invoked with the execution's task token, it records the
  job AWAITING_REVIEW with the token and the deadline and returns; the execution then waits until
  ingest hands it a decision (``SendTaskSuccess``), a cancel ends the wait, or the deadline passes.
- "Apply the review decision" (``apply_decision``): the approvals the decision leaves, and either
  the round it asks for (REGENERATE: the regeneration round and any new operations) or PUBLISH.
- "Publish approved images" (``publish_approved``): ``review: auto`` first takes the automatic
  decision (what passed the checks); the approved images go to ``published/`` with the feed and
  the event, and the job ends SUCCEEDED (or PARTIAL, naming what failed and was not made again).
- "Close the review at its deadline" (``close_expired_review``): nobody decided in time; the job
  ends with its images in outbox/ and nothing published. A late approval still publishes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from studio_core.aiuta.requests import OnFigureImageType
from studio_core.aws.events import JobEvents
from studio_core.aws.gallery import publish_gallery
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.publishing import Publisher
from studio_core.aws.storage import Storage
from studio_core.domain.base import Model
from studio_core.domain.identity import review_decision_id
from studio_core.domain.keys import result_key
from studio_core.domain.outcome import Ending
from studio_core.domain.record import JobRecord, PublishedImage
from studio_core.domain.review import (
    ReviewState,
    approvals_after,
    automatic_decision,
    describe_decision,
    review_shortfall,
)
from studio_core.domain.state import JobState, PendingRound, StepStatus, paid_for
from studio_core.domain.vocabulary import ReviewMode
from studio_core.observability import count, logger

# Deletes at Aiuta after the review (``delete_at_aiuta_after_copy``): the images and inputs the job
# no longer needs once nothing will be made again. Returns what could not be deleted.
CleanUp = Callable[[JobState, JobRecord], list[str]]


@dataclass
class Review:
    """What the review's tasks use, handed in by the handler."""

    storage: Storage
    jobs: JobsTable
    publisher: Publisher
    events: JobEvents | None = None
    clean_up: CleanUp | None = None
    delete_after_copy_default: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def await_review(
    review: Review, *, job_id: str, task_token: str, round_: int, deadline_seconds: int
) -> dict[str, Any]:
    """Records the wait (status AWAITING_REVIEW, the token, the deadline) and tells the store."""
    now = review.clock()
    deadline_at = (now + timedelta(seconds=deadline_seconds)).isoformat(timespec="seconds")
    review.jobs.await_review(job_id, token=task_token, round_=round_, deadline_at=deadline_at)
    record = review.jobs.get(job_id)
    if record is not None:
        publish_gallery(review.storage, review.jobs, record)
        if review.events is not None:
            review.events.review_requested(
                {
                    "product_id": record.product_id,
                    "job_id": job_id,
                    "round": round_,
                    "deadline_at": deadline_at,
                    "images": sum(1 for image in record.images if image.key),
                    "decide_with": f"studio review {job_id}",
                }
            )
    count("ReviewsRequested")
    logger.info("waiting for a review decision", extra={"round": round_, "deadline_at": deadline_at})
    return {"job_id": job_id, "awaiting_review": True, "deadline_at": deadline_at}


def apply_decision(review: Review, state: JobState) -> JobState:
    """Takes the decision the wait resumed with: a round for the images it asks for, or PUBLISH."""
    record = review.jobs.get(state.job_id)
    wanted = (state.review.decision or {}).get("decision_id") if state.review else None
    decision = next((d for d in (record.review_decisions if record else []) if d.decision_id == wanted), None)
    if record is None or decision is None:
        # Not a decision of this job (a hand-made SendTaskSuccess): wait for a real one.
        logger.warning("the wait was resumed without a recorded decision", extra={"decision": wanted})
        state.status = StepStatus.AWAITING_REVIEW
        return _consumed(state)
    approved = approvals_after(record.approved_images, decision)
    if decision.asks_for_images:
        state.pending_round = PendingRound(
            image_types=[t for t in decision.regenerate if isinstance(t, OnFigureImageType)],
            # As quoted: the job's generations (a planned round may have asked for another count).
            number_of_generations=state.job.number_of_generations,
            reason=f"review decision {decision.decision_id} by {decision.by}: {describe_decision(decision)}",
            new_operations=decision.new_operations,
        )
        state.status = StepStatus.REGENERATE
        review.jobs.apply_review_decision(
            state.job_id, approved=approved, review_state=ReviewState.REGENERATING.value
        )
        count("ReviewRounds")
    else:
        state.status = StepStatus.PUBLISH
        review.jobs.apply_review_decision(state.job_id, approved=approved, review_state=None)
    logger.info(
        "review decision applied", extra={"decision": decision.decision_id, "next": state.status.value}
    )
    return _consumed(state)


def _consumed(state: JobState) -> JobState:
    if state.review is not None:
        state.review.decision = None
    return state


def publish_approved(review: Review, state: JobState) -> JobState:
    """Publishes what is approved (``review: auto``: what passed the checks) and ends the job."""
    now = review.clock()
    record = review.jobs.get(state.job_id)
    if record is None:
        raise LookupError(f"job {state.job_id} has no record")
    if state.job.review_mode is ReviewMode.AUTO:
        decision_id = review_decision_id(state.job_id, state.round, {"automatic": True})
        if all(d.decision_id != decision_id for d in record.review_decisions):
            decision = automatic_decision(
                record, decision_id=decision_id, at=now.isoformat(timespec="seconds")
            )
            review.jobs.record_decision(state.job_id, decision)
            review.jobs.apply_review_decision(
                state.job_id, approved=approvals_after(record.approved_images, decision), review_state=None
            )
        record = review.jobs.get(state.job_id) or record
    published = review.publisher.publish(record, record.approved_images)
    review.jobs.record_published(
        state.job_id,
        published=published,
        published_at=now.isoformat(timespec="seconds"),
        review_state=ReviewState.PUBLISHED.value,
    )
    return end_reviewed_job(review, state, now, published=published)


def close_expired_review(review: Review, state: JobState) -> JobState:
    """The deadline passed without a decision: the job ends, nothing is published."""
    now = review.clock()
    review.jobs.close_review(state.job_id, review_state=ReviewState.EXPIRED.value)
    count("ReviewsExpired")
    logger.warning("the review deadline passed without a decision; nothing was published")
    state.error = None
    return end_reviewed_job(review, state, now, published=None)


def end_reviewed_job(
    review: Review, state: JobState, now: datetime, *, published: list[PublishedImage] | None
) -> JobState:
    """The end of a reviewed job: SUCCEEDED, or PARTIAL naming what failed and was not made again;
    the record, result.json, the gallery and the job's end event, as finalize ends any job."""
    record = review.jobs.get(state.job_id)
    if record is None:
        raise LookupError(f"job {state.job_id} has no record")
    wanted = state.job.kind if state.base_job_id is None else None
    reason = review_shortfall(state.operations, record.images, wanted)
    if published is None:
        unreviewed = "nobody decided by the review deadline: nothing was published (a late approval still is)"
        reason = f"{reason}; {unreviewed}" if reason else None
    should_delete = state.job.delete_at_aiuta_after_copy
    if should_delete is None:
        should_delete = review.delete_after_copy_default
    should_delete = bool(should_delete) and all(op.finished for op in state.operations)
    problems = review.clean_up(state, record) if should_delete and review.clean_up is not None else []
    key = result_key(state.product_id, state.job_id)
    ending = Ending(StepStatus.PARTIAL if reason else StepStatus.SUCCEEDED, reason)
    ended = review.jobs.record_ending(
        state.job_id,
        ending,
        images=record.images,
        rounds=record.rounds,
        result_key=key,
        finished_at=now.isoformat(),
        deleted_at_aiuta=should_delete,
        cleanup_problems=problems,
        operations=state.operations,
    )
    if ending.metric:
        count(ending.metric)
    state.status, state.failure_reason = ending.step, reason
    review.storage.put_json(key, result_of(ended, state, now))
    publish_gallery(review.storage, review.jobs, ended)
    if review.events is not None:
        review.events.job_finished(ended, review.storage.bucket)
    return state


def result_of(record: JobRecord, state: JobState, now: datetime) -> dict[str, Any]:
    """``result.json`` of a reviewed job: finalize's document, with the review and what was published."""
    return {
        "job_id": record.job_id,
        "product_id": record.product_id,
        "status": record.status.value,
        "paid": paid_for(state.operations).model_dump(),
        "operations": [op.model_dump(mode="json") for op in state.operations],
        "images": [image.model_dump(mode="json") for image in record.images],
        "rounds": [r.model_dump(mode="json") for r in record.rounds],
        "review": {
            "mode": state.job.review_mode.value,
            "state": record.review_state,
            "decisions": [d.model_dump(mode="json", exclude_none=True) for d in record.review_decisions],
            "approved": [a.model_dump(mode="json") for a in record.approved_images],
        },
        "published": [p.model_dump(mode="json") for p in record.published_images],
        "finished_at": now.isoformat(),
        **({"error": record.error} if record.error else {}),
    }


class ReviewTask(Model):
    """What the state machine hands the review function: the task's name, and the job's state (or,
    for "Wait for review", the task token and the little it needs)."""

    task: Literal["await_review", "apply_decision", "publish_approved", "close_expired_review"]
    state: JobState | None = None
    job_id: str | None = None
    task_token: str | None = None
    round: int = 0
    deadline_seconds: int = Field(default=1, ge=1)


def run_review_task(review: Review, task: ReviewTask) -> dict[str, Any]:
    if task.task == "await_review":
        if not task.job_id or not task.task_token:
            raise ValueError("await_review needs job_id and task_token")
        return await_review(
            review,
            job_id=task.job_id,
            task_token=task.task_token,
            round_=task.round,
            deadline_seconds=task.deadline_seconds,
        )
    if task.state is None:
        raise ValueError(f"{task.task} needs the job's state")
    steps = {
        "apply_decision": apply_decision,
        "publish_approved": publish_approved,
        "close_expired_review": close_expired_review,
    }
    return steps[task.task](review, task.state).to_output()
