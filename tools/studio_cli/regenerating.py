"""``studio regenerate``: check a regeneration round can run, then request it as its own job.

Checked before anything is written: each image type is an on-figure ``viewpoint/pose`` Aiuta
knows, generations are 1-4, and the job has ended with an on-figure operation that succeeded
(regeneration builds on it; a flat-lay-only or failed job, or one still running with no such
operation yet, cannot be regenerated).
The request goes to its own key, ``regenerate/<product>/<request>.json``, so two requests never
overwrite each other, and the new job's id follows from that key and its ETag.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from studio_cli.errors import NotFound, Refused, UsageError
from studio_cli.stack import Stack
from studio_core.aiuta.requests import FlatLayType
from studio_core.domain.identity import Novelty, decide, regeneration_identity
from studio_core.domain.jobs import RegenerationRequest, describe_validation_error
from studio_core.domain.keys import REGENERATE
from studio_core.domain.record import JobRecord
from studio_core.domain.vocabulary import Kind

try:  # one key per request (domain.keys), where this version of the library has it
    from studio_core.domain.keys import regeneration_request_key
except ImportError:  # pragma: no cover - an older library: one key per product

    def regeneration_request_key(product_id: str, request_id: str) -> str:
        return f"{REGENERATE}{product_id}.json"


@dataclass(frozen=True)
class RegenerationRequested:
    base_job_id: str
    product_id: str
    key: str
    job_id: str
    image_types: list[str]
    number_of_generations: int | None

    def document(self) -> dict[str, Any]:
        return {
            "base_job_id": self.base_job_id,
            "product_id": self.product_id,
            "request_key": self.key,
            "job_id": self.job_id,
            "image_types": self.image_types,
            "number_of_generations": self.number_of_generations,
        }


def check_request(image_types: list[str], number_of_generations: int | None) -> RegenerationRequest:
    """The request as ingest will read it; ``UsageError`` naming each value that can never run."""
    flat = [label for label in image_types if label.split("/", 1)[0].strip() in set(FlatLayType)]
    if flat:
        raise UsageError(
            f"regeneration is on-figure only: {', '.join(repr(f) for f in flat)} "
            f"{'is a flat-lay type' if len(flat) == 1 else 'are flat-lay types'}",
            hint="name on-figure shots as VIEWPOINT/POSE, e.g. back/walking; flat-lay shots need a new job",
        )
    body: dict[str, Any] = {"image_types": image_types}
    if number_of_generations is not None:
        body["number_of_generations"] = number_of_generations
    try:
        return RegenerationRequest.model_validate(body)
    except ValidationError as exc:
        raise UsageError(
            "; ".join(describe_validation_error(exc)),
            hint="on-figure types are VIEWPOINT/POSE (README: The job file); --generations is 1-4",
        ) from None


def check_base(record: JobRecord) -> None:
    """``Refused`` unless ``record`` is a job a regeneration can build on."""
    job = record.job_id
    if record.job is not None and Kind.ON_FIGURE not in record.job.kind:
        raise Refused(f"job {job} made flat-lay shots only, and regeneration is on-figure only")
    # The same rule as ingest's: an on-figure operation that succeeded (a job still running its
    # other kind may already have one).
    if not record.status.is_terminal and not record.finished_on_figure_operations():
        raise Refused(
            f"job {job} is {record.status.value}: a regeneration builds on a job that has ended "
            "(or at least on an on-figure operation that succeeded)",
            hint=f"wait for it: studio watch {job}",
        )
    if not record.finished_on_figure_operations():
        why = f" (it ended {record.status.value}: {record.error})" if record.error else ""
        raise Refused(
            f"job {job} has no on-figure operation that succeeded{why}: there is nothing to regenerate from",
            hint="submit the product again for a new job",
        )


def request_regeneration(
    stack: Stack,
    job_id: str,
    image_types: list[str],
    number_of_generations: int | None = None,
    *,
    force: bool = False,
) -> RegenerationRequested:
    """Writes the regeneration request after every check; returns the new job's id and key.

    A round asked for before (the same job, types and generations) is not asked again: ``Refused``
    names the job that has it, unless ``force``."""
    request = check_request(image_types, number_of_generations)
    record = stack.jobs().get(job_id)
    if record is None:
        raise NotFound(f"there is no job {job_id!r} in {stack.table}", hint="`studio status` lists the jobs")
    if record.base_job_id and record.request_kind is not None and record.request_kind.value == "regeneration":
        # A round of a round is a round of the job it came from (as ingest reads it).
        record = stack.jobs().get(record.base_job_id) or record
        job_id = record.job_id
    check_base(record)
    labels = [t.label for t in request.image_types]
    identity = regeneration_identity(record.product_id, job_id, labels, request.number_of_generations)
    prior = stack.jobs().latest_job_of(identity.job_id)
    earlier = decide(identity, prior, asked_by="", product_known=True, force=force)
    if earlier.novelty is Novelty.UNCHANGED:
        raise Refused(
            f"job {earlier.job_id} already has this round ({', '.join(labels)}) of job {job_id}: "
            "nothing was requested",
            hint="add --force to pay for the same round again",
        )
    body: dict[str, Any] = {"job_id": job_id, "image_types": labels}
    if request.number_of_generations is not None:
        body["number_of_generations"] = request.number_of_generations
    if force:
        body["force"] = True
    request_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
    key = regeneration_request_key(record.product_id, request_id)
    answer = stack.s3().put_object(
        Bucket=stack.bucket, Key=key, Body=json.dumps(body).encode(), ContentType="application/json"
    )
    version = str(answer.get("VersionId") or str(answer.get("ETag", "")).strip('"'))
    # The job ingest gives the request (steps/ingest/regeneration_requests).
    decision = decide(identity, prior, asked_by=f"{key}@{version}", product_known=True, force=force)
    return RegenerationRequested(
        base_job_id=job_id,
        product_id=record.product_id,
        key=key,
        job_id=decision.job_id,
        image_types=body["image_types"],
        number_of_generations=request.number_of_generations,
    )
