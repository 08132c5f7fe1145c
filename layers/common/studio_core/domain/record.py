"""The job record: what the jobs table keeps of one job, as one typed model.

Every step writes it through ``aws.jobs_table.JobsTable`` (methods named for what happened) and
everything that reads a job (ingest's regeneration lookup, finalize, the CLI) reads this model.
Unknown attributes of older items are ignored, so the record can grow without a migration.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field

from studio_core.aiuta.answers import OwnerType, OwnerTypeValue
from studio_core.domain.base import Model
from studio_core.domain.jobs import JobSpec
from studio_core.domain.learned_polling import PollPlan
from studio_core.domain.quote import Cost, Quote
from studio_core.domain.state import NewOperation, OperationRef, paid_for
from studio_core.domain.vocabulary import Kind, LabelledImageType


class JobStatus(StrEnum):
    QUEUED = "QUEUED"  # validated; the execution is starting
    GENERATING = "GENERATING"  # operations created at Aiuta, being polled
    COPYING = "COPYING"
    REGENERATING = "REGENERATING"
    AWAITING_REVIEW = "AWAITING_REVIEW"  # its images are copied; the execution waits for a decision
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"  # some operation or round failed; everything that succeeded is copied
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"  # the operations are kept: `studio resume` checks them again
    CANCELLED = "CANCELLED"  # stopped on request; operations already created were still copied

    @property
    def is_terminal(self) -> bool:
        return self in (
            JobStatus.SUCCEEDED,
            JobStatus.PARTIAL,
            JobStatus.FAILED,
            JobStatus.TIMED_OUT,
            JobStatus.CANCELLED,
        )


class RequestKind(StrEnum):
    """Which input started the job."""

    FOLDER = "folder"
    CATALOGUE = "catalogue"
    REGENERATION = "regeneration"


class ImageRecord(Model):
    """One generated image: where it is in our bucket, and where it came from at Aiuta."""

    model_config = ConfigDict(extra="ignore")

    kind: Kind
    image_type: LabelledImageType
    variant: int
    round: int = 0
    key: str | None = None  # None when the copy failed (see error)
    aiuta_image_id: str
    source_url: str
    owner_type: OwnerTypeValue = OwnerType.USER
    width: int | None = None
    height: int | None = None
    error: str | None = None


class RoundRecord(Model):
    """A copied round and what its checks found (empty: every image arrived as asked)."""

    model_config = ConfigDict(extra="ignore")

    round: int
    findings: list[str] = Field(default_factory=list)


class UploadRecord(Model):
    """One input photo uploaded to Aiuta (upload mode), recorded the moment its id exists."""

    model_config = ConfigDict(extra="ignore")

    key: str
    image_id: str


class ApprovedImage(Model):
    """One generated image a review approved for the shop."""

    model_config = ConfigDict(extra="ignore")

    kind: Kind
    image_type: LabelledImageType
    round: int
    variant: int
    key: str


class ReviewDecisionRecord(Model):
    """One review decision, as written and as resolved against the job: who, when, what, and its price."""

    model_config = ConfigDict(extra="ignore")

    decision_id: str
    by: str
    at: str
    round: int  # the round it answered
    source: str | None = None  # ``<key>@<version>`` of its file; None for the automatic review
    automatic: bool = False  # ``review: auto``: the result checks decided
    approve: dict[str, list[int]] = Field(default_factory=dict)
    reject: dict[str, str] = Field(default_factory=dict)
    retry: list[Kind] = Field(default_factory=list)
    note: str | None = None
    # What it resolves to: the images approved, the on-figure types regenerated, the new operations.
    approved: list[ApprovedImage] = Field(default_factory=list)
    regenerate: list[LabelledImageType] = Field(default_factory=list)
    new_operations: list[NewOperation] = Field(default_factory=list)
    quote: Cost = Field(default_factory=Cost)
    late: bool = False  # taken after the job had ended: approvals only, published at once

    @property
    def asks_for_images(self) -> bool:
        return bool(self.regenerate or self.new_operations)


class PublishedImage(Model):
    """One image in ``published/``: where it is, what it shows and what it was made from."""

    model_config = ConfigDict(extra="ignore")

    kind: Kind
    image_type: LabelledImageType
    position: int
    key: str
    source_key: str
    checksum: str  # SHA-256 of the published bytes (metadata included)
    content_type: str


class JobRecord(Model):
    """One item of the jobs table (its keys are the table's business, not the record's)."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    product_id: str
    status: JobStatus
    created_at: str
    updated_at: str
    job: JobSpec | None = None  # None for a job rejected before it had a valid spec
    request_kind: RequestKind | None = None
    source_key: str | None = None
    input_keys: list[str] = Field(default_factory=list)
    manifest_etag: str | None = None  # the product.json a folder job was started from
    catalogue_line: int | None = None
    base_job_id: str | None = None  # the job a regeneration request builds on
    execution_name: str | None = None
    input_mode: str | None = None
    uploaded_image_ids: list[str] = Field(default_factory=list)
    uploads: list[UploadRecord] = Field(default_factory=list)  # appended as each upload returns
    operations: list[OperationRef] = Field(default_factory=list)
    round: int = 0
    submitted_at: str | None = None
    poll_plan: PollPlan | None = None  # the latest round's schedule and the estimate it came from
    last_checked_at: str | None = None
    poll_attempts: int = 0
    # Every image of every round; read whole by ``JobsTable.get`` (each round is an item of its own,
    # so a job of any size fits DynamoDB's 400 KB items). Lists of jobs carry only the counts.
    images: list[ImageRecord] = Field(default_factory=list)
    images_copied: int = 0
    images_missing: int = 0
    thumbnail_key: str | None = None  # an image that passed its checks, for pages that list jobs
    rounds: list[RoundRecord] = Field(default_factory=list)
    result_key: str | None = None
    error: str | None = None
    finished_at: str | None = None
    deleted_at_aiuta: bool = False
    cleanup_problems: list[str] = Field(default_factory=list)
    resumes: int = 0  # how often `studio resume` checked the operations again
    resumed_at: str | None = None
    # Identity (domain.identity): the work this job does, and why it runs.
    identity: str | None = None  # the digest of product, input content and settings
    source_version: str | None = None  # the S3 version (or request) that asked for this job
    novelty: str | None = None  # new, changed, forced or retry (domain.identity.Novelty)
    forced: bool = False  # a new generation of work already done, asked for on purpose
    retry_of: str | None = None  # the earlier job of the same work that ended without its images
    latest_job_id: str | None = None  # on the work's first job: its newest job (a retry, a forced one)
    input_checksums: list[str] = Field(default_factory=list)  # SHA-256 of each photo, in input order
    unchanged_requests: int = 0  # later uploads of the same work, which started nothing
    last_unchanged_source: str | None = None
    last_unchanged_at: str | None = None
    quote: Quote | None = None  # what it was expected to cost before it ran (domain.quote)
    # Stopped on request (`studio cancel`, a file under cancel/).
    regeneration_turn: str | None = None  # the requested regeneration of this job that runs now
    cancel_requested_at: str | None = None
    cancelled_by: str | None = None
    # Review and publish (domain.review): the execution's task token while it waits for a decision,
    # the decision being handed to it, every decision taken, and what is approved and published.
    review_state: str | None = None  # domain.review.ReviewState
    review_token: str | None = None
    review_pending: str | None = None  # the id of the decision being handed to the execution
    review_round: int | None = None  # the round the job awaits a decision on
    review_deadline_at: str | None = None
    review_decisions: list[ReviewDecisionRecord] = Field(default_factory=list)
    approved_images: list[ApprovedImage] = Field(default_factory=list)
    published_images: list[PublishedImage] = Field(default_factory=list)
    published_at: str | None = None

    def image_counts(self) -> tuple[int, int]:
        """(images in the bucket, images that could not be copied), from the images when they were
        read, else from the counts every job item keeps."""
        if self.images:
            copied = sum(1 for image in self.images if image.key)
            return copied, len(self.images) - copied
        return self.images_copied, self.images_missing

    def thumbnail(self) -> str | None:
        """An image of the job that passed its checks (the first), for a list of jobs."""
        if self.images:
            return next((image.key for image in self.images if image.key and image.error is None), None)
        return self.thumbnail_key

    def paid(self) -> Cost:
        """What the job paid Aiuta for: the operations it created (not those it built on)."""
        return paid_for(self.operations)

    def uploads_by_key(self) -> dict[str, str]:
        """The uploaded id of each input key that has one (the latest, if a key was uploaded twice)."""
        return {upload.key: upload.image_id for upload in self.uploads}

    def can_resume(self) -> bool:
        """Ended (TIMED_OUT, PARTIAL, or FAILED in a later step) with an operation that had not
        finished: worth checking again."""
        ended = (JobStatus.TIMED_OUT, JobStatus.PARTIAL, JobStatus.FAILED)
        return self.status in ended and any(op.operation_id and not op.finished for op in self.operations)

    def finished_on_figure_operations(self) -> list[OperationRef]:
        """The on-figure operations of the latest round that finished with SUCCESS."""
        done = [op for op in self.operations if op.kind is Kind.ON_FIGURE and op.succeeded]
        if not done:
            return []
        latest = max(op.round for op in done)
        return [op for op in done if op.round == latest]
