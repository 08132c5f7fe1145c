"""What makes two requests the same work, and every id derived from it.

Aiuta is paid per operation, so this module is the one place that decides when a request is
work already done. Two requests are the same work when they have:

- **the same product**: product ids compare without case (``Shirt-1`` and ``shirt-1`` are one
  product). The first spelling the pipeline sees is the product's; a request in another spelling
  is refused with the reason, never run as a second product (``product_key``);
- **the same input content**: the SHA-256 of each photo's bytes, whatever the files are called
  or in which order they are listed, or the image URLs as written, in order;
- **the same generation settings**: kind, image types, generations, background, size, paddings,
  the model (preset or settings), priority and the planned regeneration rounds, after the
  template's defaults are applied, in a canonical order (the order of kinds or of image types in a
  file does not matter). Product texts (title, description, category) and the input mode do not
  change what Aiuta is asked to make, so they are not part of it.

A job's id is ``<product>-<digest>``: a re-uploaded folder or a re-exported feed row gives the
same id and finds the job that made its images. A new generation of the same work (asked for
with ``force``, or a retry of work whose job failed) is ``<product>-<digest>-<nonce>``, the nonce
taken from the input version that asked, so a duplicate event of that version is still one job.

Every entry path (folder, product.json, catalogue row, regeneration request, resume, CLI submit)
derives ids only here; ``tests/unit/test_identity.py`` fails if an id is built anywhere else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from studio_core.domain.jobs import JobSpec
from studio_core.domain.record import JobRecord, JobStatus
from studio_core.domain.vocabulary import Kind

# Bumped when the recipe changes, so an old digest can never mean new settings.
RECIPE_VERSION = 1
DIGEST_CHARS = 16
NONCE_CHARS = 8
EXECUTION_NAME_MAX = 80
_EXECUTION_NAME_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def product_key(product_id: str) -> str:
    """The product a product id names: ids differ from each other in more than case."""
    return product_id.lower()


def photo_checksum(data: bytes) -> str:
    """The content of one input photo, as the identity and the job record keep it."""
    return hashlib.sha256(data).hexdigest()


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class WorkKind(StrEnum):
    JOB = "job"  # a folder, a product.json, a catalogue row, `studio submit`
    REGENERATION = "regeneration"  # a round requested for a job that ran


@dataclass(frozen=True)
class WorkIdentity:
    """One piece of work: a product, and the digest of what it asks Aiuta to make."""

    product_id: str
    kind: WorkKind
    digest: str

    @property
    def job_id(self) -> str:
        """The id of the work's first job."""
        return f"{self.product_id}-{self.digest[:DIGEST_CHARS]}"

    def attempt_id(self, asked_by: str) -> str:
        """The id of a further job for the same work (forced, or after a failed one), named by the
        input version that asked for it (an S3 version id, a request id)."""
        nonce = _digest("attempt", self.digest, asked_by)[:NONCE_CHARS]
        return f"{self.job_id}-{nonce}"


def generation_settings(spec: JobSpec) -> dict[str, Any]:
    """What in a job changes the images Aiuta makes, in a canonical form."""
    kinds = sorted(kind.value for kind in spec.kind)
    settings: dict[str, Any] = {
        "kind": kinds,
        "image_types": {kind: sorted(t.label for t in spec.types_for(Kind(kind))) for kind in kinds},
        "number_of_generations": spec.number_of_generations,
        "operation_priority": spec.operation_priority.value,
        "background_settings": _plain(spec.background_settings),
        "output_image_size": _plain(spec.output_image_size),
        "output_image_paddings": _plain(spec.output_image_paddings),
    }
    if Kind.ON_FIGURE in spec.kind:
        settings["model"] = {
            "preset": spec.on_figure_model_preset_id,
            "settings": _plain(spec.on_figure_model_settings),
        }
        regeneration = spec.regeneration
        settings["regeneration"] = {
            "rounds": [
                {
                    "image_types": sorted(t.label for t in planned.image_types),
                    "number_of_generations": planned.number_of_generations,
                }
                for planned in regeneration.rounds
            ],
            "auto_regenerate_failed_checks": regeneration.auto_regenerate_failed_checks,
            "max_rounds": regeneration.max_rounds,
        }
    return settings


def _plain(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_none=True) if model is not None else None


def job_identity(product_id: str, spec: JobSpec, photo_checksums: Sequence[str] = ()) -> WorkIdentity:
    """The work of a job: its product, its inputs' content (photos, or ``image_urls``) and settings."""
    inputs: dict[str, list[str]] = (
        {"urls": [str(url) for url in spec.image_urls]}
        if spec.image_urls
        else {"photos": list(photo_checksums)}
    )
    digest = _digest(
        RECIPE_VERSION, WorkKind.JOB.value, product_key(product_id), inputs, generation_settings(spec)
    )
    return WorkIdentity(product_id, WorkKind.JOB, digest)


def regeneration_identity(
    product_id: str, base_job_id: str, image_type_labels: Iterable[str], number_of_generations: int | None
) -> WorkIdentity:
    """The work of a regeneration request: these on-figure types again, for that job's model."""
    digest = _digest(
        RECIPE_VERSION,
        WorkKind.REGENERATION.value,
        product_key(product_id),
        base_job_id,
        sorted(image_type_labels),
        number_of_generations,
    )
    return WorkIdentity(product_id, WorkKind.REGENERATION, digest)


def review_decision_id(job_id: str, round_: int, decision: dict[str, Any]) -> str:
    """A review decision's id: its job, the round it answers and what it says (canonical), so the
    same decision written twice (or its event delivered twice) is one decision, charged once."""
    return f"{job_id}-review-{_digest('review', job_id, round_, decision)[:DIGEST_CHARS]}"


def image_checksum(data: bytes) -> str:
    """The content of a published image, as the product image feed lists it."""
    return hashlib.sha256(data).hexdigest()


def spelling_conflict(product_id: str, spelling: str) -> str:
    """Why a product id is refused when the product is known in another spelling."""
    return (
        f"product {product_id!r} is already known as {spelling!r}: product ids differ in more than "
        f"case (the first spelling is the product's), so use {spelling!r}"
    )


def rejection_id(product_id: str, *fingerprint: str) -> str:
    """The id of a rejected input: the same problem with the same input is one rejection, however
    many of a folder's files (and duplicate events) reported it."""
    return f"{product_id}-{_digest('rejected', product_id, *fingerprint)[:DIGEST_CHARS]}"


def execution_name(job_id: str) -> str:
    """A Step Functions execution name (1-80 of A-Z a-z 0-9 - _), one per job."""
    safe = "".join(c if c in _EXECUTION_NAME_SAFE else "_" for c in job_id)
    if len(safe) <= EXECUTION_NAME_MAX:
        return safe
    return safe[:63] + "-" + hashlib.sha256(job_id.encode()).hexdigest()[:16]


def resume_execution_name(job_id: str, attempt: int) -> str:
    """The execution of the job's ``attempt``-th ``studio resume`` (the job id shortened if needed)."""
    suffix = f"-resume-{attempt}"
    name = execution_name(job_id)
    if len(name) + len(suffix) > EXECUTION_NAME_MAX:
        keep = EXECUTION_NAME_MAX - len(suffix) - 17
        name = name[:keep] + "-" + hashlib.sha256(job_id.encode()).hexdigest()[:16]
    return name + suffix


def catalogue_run_name(key: str, version: str) -> str:
    """The catalogue execution of one version of a catalogue file (its S3 version id or ETag)."""
    stem = PurePosixPath(key).stem[:40]
    return execution_name(f"catalogue-{stem}-{_digest('catalogue', key, version)[:DIGEST_CHARS]}")


class Novelty(StrEnum):
    """What a request is, against the jobs the work already has."""

    NEW = "new"  # a product the pipeline has not seen
    CHANGED = "changed"  # a known product whose content or settings changed: new work
    UNCHANGED = "unchanged"  # work a job already did (or is doing): nothing starts
    FORCED = "forced"  # work already done, asked for again on purpose
    RETRY = "retry"  # the work's last job ended without its images (failed, cancelled): run again
    DUPLICATE = "duplicate"  # the same input version again (a redelivered event)


@dataclass(frozen=True)
class Decision:
    """The job a request runs as (or the job that already did its work, when it runs nothing)."""

    novelty: Novelty
    job_id: str
    prior_job_id: str | None = None  # the work's latest job before this request

    @property
    def starts_work(self) -> bool:
        return self.novelty in (Novelty.NEW, Novelty.CHANGED, Novelty.FORCED, Novelty.RETRY)


# Object metadata (``x-amz-meta-force: true``) that asks for a new generation of an upload's work,
# without changing the store's files: ``studio submit --force`` sets it; any tool can.
FORCE_METADATA = "force"


def forced_by_metadata(metadata: dict[str, str]) -> bool:
    return metadata.get(FORCE_METADATA, "").strip().lower() in ("true", "yes", "1")


def made_its_images(record: JobRecord) -> bool:
    """Whether a job covers its work: running, or ended with its images (or with paid operations
    that `studio resume` can still collect). A job that failed or was cancelled did not."""
    if not record.status.is_terminal:
        return True
    if record.status in (JobStatus.SUCCEEDED, JobStatus.PARTIAL):
        return True
    if record.status is JobStatus.TIMED_OUT:
        return any(op.operation_id for op in record.operations)
    return False


def decide(
    identity: WorkIdentity,
    prior: JobRecord | None,
    *,
    asked_by: str,
    product_known: bool,
    force: bool = False,
) -> Decision:
    """Whether a request is new work, and its job id. ``prior`` is the work's latest job (see
    ``latest_job_of``); ``asked_by`` the input version that asks (an S3 version id)."""
    if prior is None:
        return Decision(Novelty.CHANGED if product_known else Novelty.NEW, identity.job_id)
    if prior.source_version == asked_by:
        return Decision(Novelty.DUPLICATE, prior.job_id, prior.job_id)
    if made_its_images(prior):
        if force:
            return Decision(Novelty.FORCED, identity.attempt_id(asked_by), prior.job_id)
        return Decision(Novelty.UNCHANGED, prior.job_id, prior.job_id)
    return Decision(Novelty.RETRY, identity.attempt_id(asked_by), prior.job_id)


def folder_version(versions: Iterable[tuple[str, str]]) -> str:
    """The version of a product folder as ingest listed it: its files' keys and versions. Another
    upload into the folder is another version; the same listing read again is the same one."""
    return "folder-" + _digest("folder", sorted(versions))[:DIGEST_CHARS]
