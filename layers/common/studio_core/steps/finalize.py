"""Copy a finished round's images into the bucket, check them, and decide what comes next.

Copies run in parallel and stream through a spooled file (memory, then /tmp), because Aiuta's
links expire (``expires_at``) and a product can have dozens of images.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image, UnidentifiedImageError

from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.models import AiutaImage, OwnerType
from studio_core.aws.jobs_table import JobRecordStatus, JobsTable
from studio_core.aws.storage import DownloadFailed, Storage, download_to_spool
from studio_core.domain.errors import AiutaError
from studio_core.domain.jobs import JobSpec
from studio_core.domain.keys import output_key, result_key
from studio_core.domain.results import CopiedImage, check_results, decide_next_round
from studio_core.domain.state import JobState, Kind, OperationRef, PendingRound, StepStatus
from studio_core.observability import count, logger
from studio_core.steps.check_status import fetch_operation

COPY_WORKERS = 8


@dataclass(frozen=True)
class CopyOrder:
    kind: Kind
    image_type: Any
    variant: int
    image: AiutaImage
    key: str
    round: int


@dataclass
class CopyOutcome:
    kind: str
    image_type: str
    variant: int
    round: int
    key: str | None
    aiuta_image_id: str
    source_url: str
    width: int | None = None
    height: int | None = None
    error: str | None = None


def plan_copies(state: JobState, op: OperationRef, operation: Any) -> list[CopyOrder]:
    orders = []
    for item in operation.generation_result or []:
        for variant, image in enumerate(item.generated_images, start=1):
            key = output_key(
                state.product_id, state.job_id, op.kind.value, item.image_type.label, variant, op.round
            )
            orders.append(CopyOrder(op.kind, item.image_type, variant, image, key, op.round))
    return orders


def copy_one(order: CopyOrder, storage: Storage) -> CopyOutcome:
    outcome = CopyOutcome(
        kind=order.kind.value,
        image_type=order.image_type.label,
        variant=order.variant,
        round=order.round,
        key=None,
        aiuta_image_id=order.image.id,
        source_url=order.image.url.split("?", 1)[0],
    )
    try:
        spool, content_type = download_to_spool(order.image.url)
    except DownloadFailed as exc:
        outcome.error = f"could not download: {exc}"
        return outcome
    with spool:
        try:
            with Image.open(spool) as picture:
                outcome.width, outcome.height = picture.size
                picture.load()
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            outcome.error = f"not a decodable image: {exc}"
        # An undecodable file is still kept: a person may want to look at what Aiuta sent.
        spool.seek(0)
        storage.upload_file(
            order.key, spool, content_type if content_type.startswith("image/") else "image/png"
        )
    outcome.key = order.key
    return outcome


def copy_round(state: JobState, *, client: AiutaStudioClient, storage: Storage) -> list[CopyOutcome]:
    orders: list[CopyOrder] = []
    for op in state.current_operations():
        orders.extend(plan_copies(state, op, fetch_operation(client, op)))
    with ThreadPoolExecutor(max_workers=COPY_WORKERS) as pool:
        return list(pool.map(lambda order: copy_one(order, storage), orders))


def delete_at_aiuta(state: JobState, images: list[dict[str, Any]], client: AiutaStudioClient) -> list[str]:
    """Deletes the job's inputs and generated images at Aiuta; returns what could not be deleted."""
    problems = []
    for image_id in state.uploaded_image_ids:
        try:
            client.delete_uploaded_image(image_id)
        except AiutaError as exc:
            problems.append(str(exc))
    for image in images:
        if image.get("owner_type", OwnerType.USER.value) != OwnerType.USER.value:
            continue
        try:
            client.delete_generated_image(image["aiuta_image_id"])
        except AiutaError as exc:
            problems.append(str(exc))
    return problems


def finalize_job(
    state: JobState,
    *,
    client: AiutaStudioClient,
    storage: Storage,
    jobs: JobsTable,
    delete_after_copy_default: bool = False,
    now: datetime | None = None,
) -> JobState:
    now = now or datetime.now(UTC)
    spec = JobSpec.from_state(state.job)
    jobs.update(state.job_id, status=JobRecordStatus.COPYING)
    outcomes = copy_round(state, client=client, storage=storage)
    findings = check_results(
        spec,
        [op for op in state.current_operations()],
        [CopiedImage(o.kind, o.image_type, o.variant, o.width, o.height, o.error) for o in outcomes],
    )
    copied = sum(1 for o in outcomes if o.key)
    count("ImagesCopied", copied)
    state.images_copied += copied

    record = jobs.get(state.job_id) or {}
    # A retried finalize replaces this round's entries instead of adding them twice.
    earlier_images = [i for i in record.get("images", []) if i.get("round") != state.round]
    earlier_rounds = [r for r in record.get("rounds", []) if r.get("round") != state.round]
    images = [*earlier_images, *(asdict(o) for o in outcomes)]
    rounds = [*earlier_rounds, {"round": state.round, "findings": [f.message for f in findings]}]
    plan = decide_next_round(spec, state.round, findings)
    if plan is not None:
        state.status = StepStatus.REGENERATE
        state.pending_round = PendingRound(
            image_types=[t.model_dump(mode="json") for t in plan.image_types],
            number_of_generations=plan.number_of_generations,
            reason=plan.reason,
        )
    else:
        state.status = StepStatus.SUCCEEDED
        state.pending_round = None

    summary = {
        "job_id": state.job_id,
        "product_id": state.product_id,
        "status": "SUCCEEDED" if plan is None else "REGENERATING",
        "operations": [op.model_dump(mode="json") for op in state.operations],
        "images": images,
        "rounds": rounds,
        "finished_at": now.isoformat() if plan is None else None,
    }
    storage.put_json(result_key(state.product_id, state.job_id), summary)
    if plan is None:
        should_delete = spec.delete_at_aiuta_after_copy
        if should_delete is None:
            should_delete = delete_after_copy_default
        problems = delete_at_aiuta(state, images, client) if should_delete else []
        jobs.update(
            state.job_id,
            status=JobRecordStatus.SUCCEEDED,
            images=images,
            rounds=rounds,
            result_key=result_key(state.product_id, state.job_id),
            finished_at=now.isoformat(),
            deleted_at_aiuta=bool(should_delete),
            cleanup_problems=problems,
        )
        count("JobsSucceeded")
    else:
        jobs.update(
            state.job_id, images=images, rounds=rounds, result_key=result_key(state.product_id, state.job_id)
        )
    logger.info(
        "round copied",
        extra={"round": state.round, "images": copied, "findings": len(findings), "next": state.status.value},
    )
    return state
