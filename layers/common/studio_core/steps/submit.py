"""Task "Submit generation to Aiuta": hand over the input images, create one operation per kind.

Upload mode records each uploaded id in the job record the moment it exists, so a submit cut off
half-way through a batch is retried with the ids it already has and uploads only the rest.
A create whose outcome is unknown (a 5xx or a lost answer, see ``aiuta.operations``) is not sent
again: that kind is recorded as failed and the other kinds go on (the job ends PARTIAL), unless
no operation was created at all, when the job fails with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import PurePosixPath

from botocore.exceptions import BotoCoreError, ClientError

from studio_core.aiuta.answers import OperationStatus
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.operations import Creator
from studio_core.aiuta.requests import ProductInfo
from studio_core.aws.duration_estimates import DurationEstimates
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.capacity import behind_waiting_creates
from studio_core.domain.errors import (
    AiutaConnectionError,
    AiutaOutcomeUnknown,
    AiutaRejectedRequest,
    CapacityUnavailable,
    JobCancelled,
)
from studio_core.domain.jobs import JobSpec
from studio_core.domain.polling import PollSettings, start_polling
from studio_core.domain.state import JobState, OperationRef, StepStatus
from studio_core.domain.vocabulary import InputMode, Kind
from studio_core.observability import count, logger

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def product_info_for(
    state: JobState,
    *,
    storage: Storage,
    client: AiutaStudioClient,
    url_ttl_seconds: int,
    jobs: JobsTable,
) -> ProductInfo:
    """The product and its images in the job's input mode: URLs Aiuta downloads, or uploaded bytes.

    Uploaded ids are kept on the job record as soon as they exist, so a retried submit reuses them
    (and the operation, the ids and a later delete at Aiuta all agree) instead of uploading again.
    """
    spec = state.job
    details = {
        "id": state.product_id,
        "title": spec.product.title,
        "category": spec.product.category,
        "description": spec.product.description,
    }
    if spec.image_urls:
        return ProductInfo(image_urls=list(spec.image_urls), **details)
    if spec.input_mode is InputMode.UPLOAD:
        ids = upload_inputs(state, storage=storage, client=client, jobs=jobs)
        return ProductInfo(uploaded_image_ids=ids, **details)
    urls = [
        storage.presigned_get_url(key, url_ttl_seconds, state.input_versions.get(key))
        for key in state.input_keys
    ]
    return ProductInfo(image_urls=urls, **details)


def upload_inputs(
    state: JobState, *, storage: Storage, client: AiutaStudioClient, jobs: JobsTable
) -> list[str]:
    """The uploaded id of every input, in input order: the recorded ones reused, the rest uploaded
    and each recorded as soon as Aiuta returns it."""
    record = jobs.get(state.job_id)
    done = record.uploads_by_key() if record else {}
    if record and not done and len(record.uploaded_image_ids) == len(state.input_keys):
        # A record written before ids were kept per key.
        done = dict(zip(state.input_keys, record.uploaded_image_ids, strict=True))
    ids = []
    for key in state.input_keys:
        if key not in done:
            done[key] = _upload(key, state.input_versions.get(key), storage, client)
            jobs.record_upload(state.job_id, key, done[key])
        ids.append(done[key])
    jobs.record_uploads(state.job_id, ids)
    return ids


def _upload(key: str, version_id: str | None, storage: Storage, client: AiutaStudioClient) -> str:
    suffix = PurePosixPath(key).suffix.lower()
    try:
        image = client.upload_image(
            storage.read_bytes(key, version_id),
            filename=PurePosixPath(key).name,
            content_type=CONTENT_TYPES.get(suffix, "application/octet-stream"),
        )
    except AiutaOutcomeUnknown as exc:
        # An upload is not a paid operation: sending it again costs at most an unreferenced copy
        # at Aiuta, which is better than failing the job.
        raise AiutaConnectionError(f"{exc} (an upload is not billed, so it is retried)") from None
    return image.id


def _create_round_zero(
    spec: JobSpec, job_id: str, info: ProductInfo, create: Creator, jobs: JobsTable
) -> list[OperationRef]:
    """One operation per kind. Each created one is in the job record at once, so a step that fails
    after it (the next kind's create finds no capacity, the Lambda is cut off) never leaves a paid
    operation the job does not know. A kind whose create Aiuta refused or whose outcome is unknown
    is recorded as failed, and the other kinds go on; when no kind got an operation, that error
    fails the job."""
    operations: list[OperationRef] = []
    refused: list[AiutaOutcomeUnknown | AiutaRejectedRequest] = []
    for kind in spec.kind:
        request = spec.on_figure_request(info) if kind is Kind.ON_FIGURE else spec.flat_lay_request(info)
        ref = OperationRef(
            kind=kind,
            image_types=list(request.image_types),
            number_of_generations=request.number_of_generations,
        )
        try:
            ref.operation_id = create(
                f"{job_id}#{kind.value}#0", {"action": kind.value, "request": request.to_api()}
            )
        except (AiutaOutcomeUnknown, AiutaRejectedRequest) as exc:
            logger.warning("create not confirmed", extra={"kind": kind.value, "error": str(exc)})
            confirmed = "was refused" if isinstance(exc, AiutaRejectedRequest) else "was not confirmed"
            ref.status, ref.error = OperationStatus.FAILED, f"the create {confirmed}: {exc}"
            refused.append(exc)
        else:
            logger.info("operation created", extra={"kind": kind.value, "operation_id": ref.operation_id})
            count("OperationsCreated", kind=kind.value)
            count("ImagesPaid", len(ref.image_types) * ref.number_of_generations)
        operations.append(ref)
        if ref.operation_id is not None:
            jobs.record_operations(job_id, operations)
    if refused and all(op.operation_id is None for op in operations):
        raise refused[0]
    return operations


def queue_behind_waiting_creates(state: JobState, creates_waiting: Callable[[], float] | None) -> None:
    """A new job does not jump the queue: while creates wait for a request turn (the waiting
    room's backlog of new work), it waits behind them (``CapacityUnavailable``) before it claims or
    sends anything. A job back from its wait for capacity has had its turn and goes on.

    Without this, each new job of a catalogue would take the request turns the waiting jobs were
    let in for, and those would find the budget taken and wait again at the back."""
    if creates_waiting is None or state.capacity is not None:
        return
    try:
        waiting = creates_waiting()
    except (BotoCoreError, ClientError) as exc:
        logger.info("the creates waiting could not be read; submitting", extra={"error": str(exc)})
        return
    if waiting >= 1:
        count("CreatesQueuedBehindBacklog")
        raise CapacityUnavailable(behind_waiting_creates(waiting))


def submit_job(
    state: JobState,
    *,
    client: AiutaStudioClient,
    storage: Storage,
    jobs: JobsTable,
    create: Creator,
    poll: PollSettings,
    estimates: DurationEstimates,
    url_ttl_seconds: int,
    now: datetime | None = None,
    rate_pressure: float | Callable[[], float] = 0.0,
    creates_waiting: Callable[[], float] | None = None,
) -> JobState:
    """Creates the job's operations (one per kind) and schedules the first status check, later
    while the request rate binds (``rate_pressure``, 0..1, ``learned_polling.rate_pressure_from``).

    A new job waits behind the creates already waiting for a request turn
    (``queue_behind_waiting_creates``); a job cancelled before this step claimed it creates
    nothing (``JobCancelled``)."""
    now = now or datetime.now(UTC)
    queue_behind_waiting_creates(state, creates_waiting)
    if not jobs.claim_for_submit(state.job_id):
        raise JobCancelled(f"job {state.job_id} was cancelled before anything was sent to Aiuta")
    info = product_info_for(state, storage=storage, client=client, url_ttl_seconds=url_ttl_seconds, jobs=jobs)
    state.operations.extend(_create_round_zero(state.job, state.job_id, info, create, jobs))
    state.uploaded_image_ids = list(info.uploaded_image_ids or [])
    priority = state.job.operation_priority
    # The pressure the create's own request turn saw (``clients.rate_pressure``): no request of its own.
    pressure = rate_pressure() if callable(rate_pressure) else rate_pressure
    state.poll = start_polling(priority, poll, now, estimates.current(priority, poll), rate_pressure=pressure)
    state.status = StepStatus.WAITING
    jobs.mark_generating(
        state.job_id,
        operations=state.operations,
        submitted_at=now.isoformat(),
        input_mode=InputMode.URLS.value if state.job.image_urls else state.job.input_mode.value,
        poll_plan=state.poll.plan,
    )
    return state
