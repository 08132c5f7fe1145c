"""Submit a job to Aiuta: hand over the input images, create one operation per kind.

Exactly one paid operation per job and kind: each create is wrapped in Powertools Idempotency
keyed on ``<job_id>#<kind>#<round>``, so a retried Lambda (or a redelivered event) gets the
operation id recorded the first time instead of creating a second operation.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.models import (
    GenerateFlatLayImagesRequest,
    GenerateOnFigureImagesRequest,
    ProductInfo,
    RegenerateOnFigureImagesRequest,
)
from studio_core.aws.jobs_table import JobRecordStatus, JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.errors import AiutaOutcomeUnknown, AiutaServerError
from studio_core.domain.jobs import JobSpec
from studio_core.domain.polling import deadline_for, next_wait
from studio_core.domain.state import InputMode, JobState, Kind, OperationRef, PollState, StepStatus
from studio_core.observability import count, logger
from studio_core.settings import PollSettings

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
# Statuses after which Aiuta surely did nothing; anything else on a create is "outcome unknown".
SAFE_TO_RESEND_STATUSES = frozenset({502, 503})

Creator = Callable[[str, dict[str, Any]], str]


# The in-progress record deliberately outlives the Lambda (no register_lambda_context): if a create
# is cut off mid-call, a retry fails with IdempotencyAlreadyInProgressError instead of paying twice.
warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")


def idempotent_creator(table_name: str, create: Callable[[str, dict[str, Any]], str]) -> Creator:
    """Wraps ``create(action, request)`` so each idempotency key reaches Aiuta at most once."""
    persistence = DynamoDBPersistenceLayer(table_name=table_name)
    config = IdempotencyConfig(event_key_jmespath="key", expires_after_seconds=7 * 24 * 3600)

    @idempotent_function(data_keyword_argument="order", persistence_store=persistence, config=config)
    def create_once(order: dict[str, Any]) -> dict[str, str]:
        return {"operation_id": create(order["action"], order["request"])}

    def run(key: str, order: dict[str, Any]) -> str:
        return create_once(order={"key": key, **order})["operation_id"]

    return run


def operation_creator(idempotency_table: str, client: Callable[[], AiutaStudioClient]) -> Creator:
    """The once-per-key create that the submit and regenerate tasks share."""
    return idempotent_creator(
        idempotency_table, lambda action, request: create_operation(client(), action, request)
    )


def create_operation(client: AiutaStudioClient, action: str, request: dict[str, Any]) -> str:
    """POSTs one create (``on_figure``, ``flat_lay`` or ``regenerate``).

    A 5xx other than 502/503 may have created the operation anyway, so it becomes
    ``AiutaOutcomeUnknown``, which the workflow records instead of retrying.
    """
    try:
        if action == Kind.ON_FIGURE:
            return client.create_on_figure_operation(GenerateOnFigureImagesRequest.model_validate(request))
        if action == Kind.FLAT_LAY:
            return client.create_flat_lay_operation(GenerateFlatLayImagesRequest.model_validate(request))
        return client.regenerate_on_figure_operation(RegenerateOnFigureImagesRequest.model_validate(request))
    except AiutaServerError as exc:
        if exc.status_code in SAFE_TO_RESEND_STATUSES:
            raise
        raise AiutaOutcomeUnknown(
            f"{exc} - Aiuta may have created the {action} operation anyway, so it is not sent again; "
            "drop the product again to start a new job",
        ) from None


def product_info_for(
    spec: JobSpec,
    state: JobState,
    *,
    storage: Storage,
    client: AiutaStudioClient,
    url_ttl_seconds: int,
    jobs: JobsTable | None = None,
) -> ProductInfo:
    """The product and its images in the job's input mode: URLs Aiuta downloads, or uploaded bytes.

    Uploaded ids are kept on the job record as soon as they exist, so a retried submit reuses them
    (and the operation, the ids and a later delete at Aiuta all agree) instead of uploading again.
    """
    details = {
        "id": state.product_id,
        "title": spec.product.title,
        "category": spec.product.category,
        "description": spec.product.description,
    }
    if spec.image_urls:
        return ProductInfo(image_urls=list(spec.image_urls), **details)
    if spec.input_mode is InputMode.UPLOAD:
        record = (jobs.get(state.job_id) if jobs else None) or {}
        ids = record.get("uploaded_image_ids") or [_upload(key, storage, client) for key in state.input_keys]
        if jobs is not None:
            jobs.update(state.job_id, uploaded_image_ids=ids)
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


def start_polling(state: JobState, spec: JobSpec, poll: PollSettings, now: datetime) -> PollState:
    return PollState(
        wait_seconds=next_wait(spec.operation_priority, 0, poll),
        attempt=0,
        started_at=now,
        deadline=deadline_for(spec.operation_priority, now, poll),
    )


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
    spec = JobSpec.from_state(state.job)
    info = product_info_for(
        spec, state, storage=storage, client=client, url_ttl_seconds=url_ttl_seconds, jobs=jobs
    )
    for kind in (Kind(k) for k in spec.kind):
        request = spec.on_figure_request(info) if kind is Kind.ON_FIGURE else spec.flat_lay_request(info)
        operation_id = create(
            f"{state.job_id}#{kind.value}#0", {"action": kind.value, "request": request.to_api()}
        )
        state.operations.append(
            OperationRef(
                kind=kind,
                operation_id=operation_id,
                round=0,
                image_types=[t.label for t in request.image_types],
                number_of_generations=request.number_of_generations,
            )
        )
        logger.info("operation created", extra={"kind": kind.value, "operation_id": operation_id})
        count("OperationsCreated", kind=kind.value)
    state.uploaded_image_ids = list(info.uploaded_image_ids or [])
    state.poll = start_polling(state, spec, poll, now)
    state.status = StepStatus.WAITING
    jobs.update(
        state.job_id,
        status=JobRecordStatus.GENERATING,
        operations=[op.model_dump(mode="json") for op in state.operations],
        submitted_at=now.isoformat(),
        input_mode="urls" if spec.image_urls else spec.input_mode,
    )
    return state
