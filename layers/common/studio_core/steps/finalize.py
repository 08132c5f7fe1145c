"""Task "Copy results to S3": copy a finished round's images, check them, decide what comes next.

Whatever succeeded is copied, even when another operation of the job failed or had not finished
by the deadline: the job then ends PARTIAL, its reason naming what is missing.

Copies run in parallel, because Aiuta's links expire (``expires_at``) and a job can have 140
images (35 on-figure types x 4). Each streams from its link into S3 in one pass, checked on the
way (``image_check``): a copy holds a bounded piece of its image, whatever the image's size.

The operation's answer with the links is the one the status check kept when it saw the operation
succeed (``aws.operation_answers``), while its links last long enough
(``domain.kept_answers.LINKS_MUST_LAST``); else (none kept, unreadable, links ending too soon)
the copy asks Aiuta for it, one GET per operation.

A replayed copy (Step Functions retries a Lambda error that can arrive after the function did its
work) finds its images already in the bucket, each tagged with the Aiuta image it came from, and
records them again without fetching them: nothing at Aiuta is needed twice (it may have deleted
them after the first copy), and a job that ended stays as it ended.

A link is an answer from the internet: the fetch is bounded (``aws.downloads``: public addresses
only, a size cap, a time limit per image) and only a whole JPEG, PNG or WebP is stored, with the
content type its bytes show. Anything else stops at the first failed check and stores nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote

import requests
from pydantic import ValidationError

from studio_core.aiuta.answers import AiutaImage, FlatLayOperation, OnFigureOperation
from studio_core.aiuta.cleanup import delete_at_aiuta
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.operations import fetch_operation
from studio_core.aws.budget import ImageBudget
from studio_core.aws.downloads import DownloadFailed, DownloadLimits, download_session, open_download
from studio_core.aws.events import JobEvents
from studio_core.aws.gallery import publish_gallery
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.operation_answers import OperationAnswers
from studio_core.aws.storage import Storage
from studio_core.domain.budget import budget_day
from studio_core.domain.image_check import ImageCheck, NotAnImage
from studio_core.domain.kept_answers import links_last_long_enough
from studio_core.domain.keys import job_prefix, output_key, result_key
from studio_core.domain.outcome import Cancel, after_copy
from studio_core.domain.record import ImageRecord, JobRecord, JobStatus
from studio_core.domain.results import RoundPlan, RoundSummary, shortfall, summarise_round
from studio_core.domain.state import (
    JobState,
    OperationRef,
    PendingRound,
    ReviewStep,
    StepStatus,
    paid_for,
)
from studio_core.domain.vocabulary import ImageType, Kind
from studio_core.observability import count, logger

COPY_WORKERS = 8
# How long a job with review: required waits for a decision (template parameter ReviewDeadlineSeconds).
REVIEW_DEADLINE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class CopyOrder:
    kind: Kind
    image_type: ImageType
    variant: int
    image: AiutaImage
    key: str
    round: int


def plan_copies(
    state: JobState, op: OperationRef, operation: OnFigureOperation | FlatLayOperation
) -> list[CopyOrder]:
    orders = []
    for item in operation.generation_result or []:
        for variant, image in enumerate(item.generated_images, start=1):
            key = output_key(
                state.product_id, state.job_id, op.kind.value, item.image_type.label, variant, op.round
            )
            # An image type Aiuta lists but this code does not know cannot be recorded under our
            # names: the copy then fails loudly (the job's reason says so) rather than silently.
            image_type = cast(ImageType, item.image_type)
            orders.append(CopyOrder(op.kind, image_type, variant, image, key, op.round))
    return orders


# The object's user metadata: which Aiuta image it is, and its size (a replay records it from there).
SOURCE_ID = "aiuta-image-id"


def copy_one(
    order: CopyOrder,
    storage: Storage,
    session: requests.Session | None = None,
    limits: DownloadLimits | None = None,
    present: frozenset[str] = frozenset(),
) -> ImageRecord:
    """Streams one image into the bucket, checking it on the way.

    A failed download, or bytes that are not a whole JPEG, PNG or WebP, are recorded with the
    reason, not raised, and write nothing (the check stops the stream at its first failure).
    An image already in the bucket (its key in ``present``, copied from the same Aiuta image) is
    recorded as it is, and not fetched again.
    """
    record = ImageRecord(
        kind=order.kind,
        image_type=order.image_type,
        variant=order.variant,
        round=order.round,
        aiuta_image_id=order.image.id,
        source_url=order.image.url.split("?", 1)[0],
        owner_type=order.image.owner_type,
    )
    if order.key in present:
        copied_before = _copied_before(order, storage)
        if copied_before is not None:
            width, height = copied_before
            return record.model_copy(update={"key": order.key, "width": width, "height": height})
    check = ImageCheck()

    def metadata() -> dict[str, str]:
        size = {"width": str(check.size[0]), "height": str(check.size[1])} if check.size else {}
        return {SOURCE_ID: quote(order.image.id, safe=""), **size}

    try:
        with open_download(order.image.url, session, limits) as download:
            content_type, chunks = _sniffed(check.passing(download.chunks), check)
            storage.upload_stream(order.key, chunks, content_type, metadata)
    except DownloadFailed as exc:
        check.close()
        return record.model_copy(update={"error": f"could not download: {exc}"})
    except NotAnImage as exc:
        check.close()
        return record.model_copy(update={"error": f"{exc}; nothing was stored"})
    checked = check.finish()
    return record.model_copy(update={"key": order.key, "width": checked.width, "height": checked.height})


def _copied_before(order: CopyOrder, storage: Storage) -> tuple[int, int] | None:
    """The size of ``order``'s image when an earlier copy stored it whole at its key, else None."""
    found = storage.metadata(order.key)
    if not found or found.get(SOURCE_ID) != quote(order.image.id, safe=""):
        return None
    width, height = found.get("width", ""), found.get("height", "")
    return (int(width), int(height)) if width.isdigit() and height.isdigit() else None


def _sniffed(chunks: Iterator[bytes], check: ImageCheck) -> tuple[str, Iterator[bytes]]:
    """The content type the first bytes show (read ahead until they do), and all the bytes.

    ``chunks`` raises ``NotAnImage`` when the first bytes are not an image's."""
    head = []
    for chunk in chunks:
        head.append(chunk)
        if check.content_type is not None:
            return check.content_type, itertools.chain(head, chunks)
    raise NotAnImage("not a decodable image: the file ends before its format shows")  # ``chunks`` says first


def answer_for_copy(
    state: JobState,
    op: OperationRef,
    *,
    client: AiutaStudioClient,
    answers: OperationAnswers | None = None,
    now: datetime | None = None,
) -> OnFigureOperation | FlatLayOperation:
    """The operation's answer to copy from: the one its check kept while its links last long
    enough, else Aiuta's (a GET)."""
    kept = answers.find(state.job_id, op.operation_id) if answers and op.operation_id else None
    if kept is not None:
        model = OnFigureOperation if op.kind is Kind.ON_FIGURE else FlatLayOperation
        try:
            answer = model.model_validate(kept.answer)
        except ValidationError as exc:
            logger.warning(
                "a kept answer is not an operation's answer; asking Aiuta",
                extra={"operation_id": op.operation_id, "error": str(exc)},
            )
        else:
            if answer.id == op.operation_id and links_last_long_enough(
                answer, kept.seen_at, now or datetime.now(UTC)
            ):
                count("CopiesFromKeptAnswers")
                return answer
    count("CopiesAskingAiuta")
    return fetch_operation(client, op)


def copy_round(
    state: JobState,
    *,
    client: AiutaStudioClient,
    storage: Storage,
    limits: DownloadLimits | None = None,
    answers: OperationAnswers | None = None,
    now: datetime | None = None,
) -> list[ImageRecord]:
    orders: list[CopyOrder] = []
    for op in state.current_operations():
        answer = answer_for_copy(state, op, client=client, answers=answers, now=now)
        orders.extend(plan_copies(state, op, answer))
    limits = limits or DownloadLimits()
    # One listing finds what an earlier run of this copy stored already (none on a first run).
    present = frozenset(o.key for o in storage.list_objects(job_prefix(state.product_id, state.job_id)))
    with (
        download_session(COPY_WORKERS, limits) as session,
        ThreadPoolExecutor(max_workers=COPY_WORKERS) as pool,
    ):
        return list(pool.map(lambda order: copy_one(order, storage, session, limits, present), orders))


def _budget_takes(budget: ImageBudget | None, state: JobState, plan: RoundPlan, now: datetime) -> bool:
    """Charges a round for failed checks (not in the job's quote) to the day's image budget."""
    if budget is None:
        return True
    generations = plan.number_of_generations or state.job.number_of_generations
    images = len(plan.image_types) * generations
    return budget.charge(f"{state.job_id}#round{state.round + 1}", images, budget_day(now)).granted


def result_document(
    state: JobState, summary: RoundSummary, now: datetime, outcome: StepStatus, reason: str | None
) -> dict[str, Any]:
    """``result.json``: the job's operations, images and rounds so far, and what did not succeed."""
    done = outcome not in (StepStatus.REGENERATE, StepStatus.AWAITING_REVIEW, StepStatus.PUBLISH)
    waiting = JobStatus.AWAITING_REVIEW if outcome is StepStatus.AWAITING_REVIEW else JobStatus.REGENERATING
    document = {
        "job_id": state.job_id,
        "product_id": state.product_id,
        "status": waiting.value if not done else outcome.value,
        "paid": paid_for(state.operations).model_dump(),
        "operations": [op.model_dump(mode="json") for op in state.operations],
        "images": [image.model_dump(mode="json") for image in summary.images],
        "rounds": [r.model_dump(mode="json") for r in summary.rounds],
        "finished_at": now.isoformat() if done else None,
    }
    if reason and done:
        document["error"] = reason
    return document


def name_expired_links(images: list[ImageRecord]) -> list[ImageRecord]:
    """A download that Aiuta answered 410 is an expired link: say so in the image's error."""
    named = []
    for image in images:
        if image.key is None and image.error and "HTTP 410" in image.error:
            detail = image.error.removeprefix("could not download: ")
            image = image.model_copy(
                update={"error": f"the link had expired at Aiuta before it could be copied ({detail})"}
            )
        named.append(image)
    return named


def _already_ended_by_this_copy(record: JobRecord | None, to_copy: list[OperationRef]) -> bool:
    """Whether this is a replay of a copy that ended the job: the record ended (SUCCEEDED or
    PARTIAL) with every operation to copy here already copied."""
    if record is None or record.status not in (JobStatus.SUCCEEDED, JobStatus.PARTIAL) or not to_copy:
        return False
    copied = {op.operation_id for op in record.operations if op.copied}
    return all(op.operation_id in copied for op in to_copy)


def finalize_job(
    state: JobState,
    *,
    client: AiutaStudioClient,
    storage: Storage,
    jobs: JobsTable,
    delete_after_copy_default: bool = False,
    events: JobEvents | None = None,
    budget: ImageBudget | None = None,
    now: datetime | None = None,
    limits: DownloadLimits | None = None,
    review_deadline_seconds: int = REVIEW_DEADLINE_SECONDS,
    answers: OperationAnswers | None = None,
) -> JobState:
    """Copies the round's succeeded operations not copied yet, then ends the job or plans a round.

    SUCCEEDED when every operation of the job succeeded and every image is in; PARTIAL (with the
    reason naming what failed, did not finish or could not be copied) when only some of it did;
    REGENERATE when the job's plan or its failed checks ask for another on-figure round (a round
    for failed checks only if the day's image budget takes it). A resumed job (``studio resume``)
    only collects late results: it plans no new round. A job asked to stop (``studio cancel``)
    ends CANCELLED once what it paid for is copied. A job whose ``review`` is not ``none`` does not
    end here: once no round follows it waits for a decision (AWAITING_REVIEW) or, ``auto``, goes
    on to publish what passed the checks (PUBLISH); the review's tasks end it.
    """
    now = now or datetime.now(UTC)
    round_ops = state.current_operations()
    to_copy = [op for op in round_ops if op.succeeded and not op.copied]
    record = jobs.get(state.job_id)
    replayed = _already_ended_by_this_copy(record, to_copy)
    if replayed and record is not None and record.finished_at:
        now = datetime.fromisoformat(record.finished_at)  # the job ended then: the replay changes nothing
    else:
        jobs.mark_copying(state.job_id)
    copied = (
        name_expired_links(
            copy_round(
                state.model_copy(update={"operations": to_copy}),
                client=client,
                storage=storage,
                limits=limits,
                answers=answers,
            )
        )
        if to_copy
        else []
    )
    for op in to_copy:
        op.copied = True
    summary = summarise_round(
        state.job,
        state.round,
        [op for op in round_ops if op.succeeded],
        copied,
        record.images if record else [],
        record.rounds if record else [],
        copied_kinds={op.kind for op in to_copy},
        regenerable=state.resume is None
        and any(op.kind is Kind.ON_FIGURE and op.succeeded for op in state.operations),
    )
    images_copied = sum(1 for image in copied if image.key)
    count("ImagesCopied", images_copied)
    state.images_copied += images_copied

    plan = summary.next_round
    asked_to_stop = record.cancel_requested_at if record is not None else None
    cancel = Cancel(record.cancelled_by, asked_to_stop) if record is not None and asked_to_stop else None
    if cancel is not None:
        plan = None
    elif plan is not None and not plan.planned and not _budget_takes(budget, state, plan, now):
        logger.warning(
            "the round for failed checks is over the day's image budget", extra={"reason": plan.reason}
        )
        count("RequestsOverBudget")
        plan = None
    # A regeneration request's operations are its base job's and its own round: no kinds of its own.
    wanted = state.job.kind if state.base_job_id is None else None
    ending = after_copy(
        next_round=plan is not None,
        shortfall=None if plan else shortfall(state.operations, summary.images, wanted),
        cancel=cancel,
        review=state.job.review_mode,
    )
    outcome, reason = ending.step, ending.reason
    state.status, state.failure_reason, state.failure = outcome, reason, ending.failure
    if outcome in (StepStatus.AWAITING_REVIEW, StepStatus.PUBLISH):
        state.review = ReviewStep(mode=state.job.review_mode.value, deadline_seconds=review_deadline_seconds)
    state.pending_round = (
        None
        if plan is None
        else PendingRound(
            image_types=plan.image_types, number_of_generations=plan.number_of_generations, reason=plan.reason
        )
    )
    key = result_key(state.product_id, state.job_id)
    storage.put_json(key, result_document(state, summary, now, outcome, reason))
    if not ending.ends_job:
        current = jobs.record_round(
            state.job_id,
            images=summary.images,
            rounds=summary.rounds,
            result_key=key,
            operations=state.operations,
        )
    else:
        should_delete = state.job.delete_at_aiuta_after_copy
        if should_delete is None:
            should_delete = delete_after_copy_default
        # Never while an operation may still finish: it reads the uploaded inputs.
        should_delete = should_delete and all(op.finished for op in state.operations)
        if replayed and record is not None:
            problems = list(record.cleanup_problems)  # deleted (or tried) the first time
        else:
            problems = delete_at_aiuta(state, summary.images, client) if should_delete else []
        current = jobs.record_ending(
            state.job_id,
            ending,
            images=summary.images,
            rounds=summary.rounds,
            result_key=key,
            finished_at=now.isoformat(),
            deleted_at_aiuta=should_delete and ending.status is not JobStatus.CANCELLED,
            cleanup_problems=problems,
            operations=state.operations,
        )
        if ending.metric:
            count(ending.metric)
        if reason:
            logger.warning("job ended", extra={"status": ending.status.value, "reason": reason})
    # The job's gallery page, and once the job has ended, its event for the store's other systems.
    publish_gallery(storage, jobs, current)
    if ending.ends_job and events is not None and not replayed:
        events.job_finished(current, storage.bucket)
    logger.info(
        "round copied",
        extra={
            "round": state.round,
            "images": images_copied,
            "findings": len(summary.findings),
            "next": state.status.value,
        },
    )
    return state
