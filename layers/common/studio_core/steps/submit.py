"""Task "Submit generation to Aiuta": hand over the input images, create one operation per kind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePosixPath

from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.models import ProductInfo
from studio_core.aiuta.operations import Creator
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage
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
        record = jobs.get(state.job_id)
        ids = (record.uploaded_image_ids if record else []) or [
            _upload(key, storage, client) for key in state.input_keys
        ]
        jobs.record_uploads(state.job_id, ids)
        return ProductInfo(uploaded_image_ids=ids, **details)
    urls = [storage.presigned_get_url(key, url_ttl_seconds) for key in state.input_keys]
    return ProductInfo(image_urls=urls, **details)


def _upload(key: str, storage: Storage, client: AiutaStudioClient) -> str:
    suffix = PurePosixPath(key).suffix.lower()
    image = client.upload_image(
        storage.read_bytes(key),
        filename=PurePosixPath(key).name,
        content_type=CONTENT_TYPES.get(suffix, "application/octet-stream"),
    )
    return image.id


def _create_round_zero(spec: JobSpec, job_id: str, info: ProductInfo, create: Creator) -> list[OperationRef]:
    operations = []
    for kind in spec.kind:
        request = spec.on_figure_request(info) if kind is Kind.ON_FIGURE else spec.flat_lay_request(info)
        operation_id = create(f"{job_id}#{kind.value}#0", {"action": kind.value, "request": request.to_api()})
        operations.append(
            OperationRef(
                kind=kind,
                operation_id=operation_id,
                image_types=list(request.image_types),
                number_of_generations=request.number_of_generations,
            )
        )
        logger.info("operation created", extra={"kind": kind.value, "operation_id": operation_id})
        count("OperationsCreated", kind=kind.value)
    return operations


def submit_job(
    state: JobState,
    *,
    client: AiutaStudioClient,
    storage: Storage,
    jobs: JobsTable,
    create: Creator,
    poll: PollSettings,
    url_ttl_seconds: int,
    now: datetime | None = None,
) -> JobState:
    """Creates the job's operations (one per kind) and schedules the first status check."""
    now = now or datetime.now(UTC)
    info = product_info_for(state, storage=storage, client=client, url_ttl_seconds=url_ttl_seconds, jobs=jobs)
    state.operations.extend(_create_round_zero(state.job, state.job_id, info, create))
    state.uploaded_image_ids = list(info.uploaded_image_ids or [])
    state.poll = start_polling(state.job.operation_priority, poll, now)
    state.status = StepStatus.WAITING
    jobs.mark_generating(
        state.job_id,
        operations=state.operations,
        submitted_at=now.isoformat(),
        input_mode=InputMode.URLS.value if state.job.image_urls else state.job.input_mode.value,
    )
    return state
