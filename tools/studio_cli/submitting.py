"""``studio submit``: check product folders and catalogues the way ingest will, quote them, then
upload them.

Everything is checked before the first byte leaves: the product id, the job file (against the
stack's own defaults), every photo, a catalogue's header and rows. Each upload is quoted with the
same rules ingest applies (``domain.identity``, ``domain.catalogue_check``): what is new, changed
or unchanged, and the operations and images it will pay for. A folder whose work a job already
did is not uploaded at all (``--force`` asks for a new generation: the upload carries
``x-amz-meta-force: true``); ``--dry-run`` stops after the quote. Photos go up first and
``product.json`` last (its arrival starts the job at once), and the job ids are computed as ingest
computes them, so ``studio watch`` can wait for exactly those jobs.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio_cli.errors import Refused, UsageError
from studio_cli.last_jobs import Catalogue
from studio_cli.stack import Stack
from studio_core.domain.catalogue import CatalogueRow, parse_catalogue
from studio_core.domain.catalogue_check import RowOutcome, RowPlan, quote, validate_rows
from studio_core.domain.errors import InvalidJob
from studio_core.domain.identity import (
    FORCE_METADATA,
    Decision,
    Novelty,
    WorkIdentity,
    decide,
    folder_version,
    job_identity,
    photo_checksum,
)
from studio_core.domain.jobs import JobDefaults, JobSpec, build_job, parse_json_document
from studio_core.domain.keys import (
    CATALOGUE_SUFFIXES,
    FOLDER_ERROR_NAME,
    IMAGE_SUFFIXES,
    INBOX,
    MANIFEST_NAME,
    KeyKind,
    classify_key,
    product_folder,
    product_id_problem,
)
from studio_core.domain.quote import job_quote
from studio_core.steps.catalogue_run import plan_rows

try:  # the photo checks ingest makes (domain.photos), where this version of the library has them
    from studio_core.domain.photos import photo_problem
except ImportError:  # pragma: no cover - an older library
    photo_problem = None


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass
class FolderPlan:
    folder: Path
    product_id: str
    photos: list[Path]
    manifest: Path | None
    spec: JobSpec
    skipped: list[Skipped] = field(default_factory=list)
    checksums: list[str] = field(default_factory=list)

    @property
    def identity(self) -> WorkIdentity:
        return job_identity(self.product_id, self.spec, self.checksums)

    @property
    def files(self) -> list[Path]:
        """In upload order: photos, then ``product.json`` (which starts the job)."""
        return [*self.photos, *([self.manifest] if self.manifest else [])]


@dataclass
class CataloguePlan:
    path: Path
    key: str
    rows: list[CatalogueRow]
    problems: dict[int, str]  # line -> why that row will fail
    plans: list[RowPlan] = field(default_factory=list)  # each row decided against the stack's jobs


@dataclass
class Submitted:
    """What one path became: its keys, the job ids ingest will record, and when they start."""

    path: str
    keys: list[str]
    job_ids: list[str]
    product_id: str | None = None
    starts: str = "now"
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    already: dict[str, str] = field(default_factory=dict)  # job id -> its status, if it exists
    catalogue: Catalogue | None = None
    invalid_rows: dict[int, str] = field(default_factory=dict)
    quote: dict[str, Any] = field(default_factory=dict)  # what it will pay, before it does
    uploaded: bool = True  # False: --dry-run, or a folder whose work a job already did

    def document(self) -> dict[str, Any]:
        return {
            "uploaded": self.uploaded,
            "quote": self.quote,
            "path": self.path,
            "product_id": self.product_id,
            "keys": self.keys,
            "job_ids": self.job_ids,
            "starts": self.starts,
            "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped],
            "notes": self.notes,
            "already_submitted": self.already,
            "invalid_rows": {str(line): reason for line, reason in self.invalid_rows.items()},
        }


# --- checking ---------------------------------------------------------------------------------


def plan_folder(
    folder: Path, product_id: str | None, defaults: JobDefaults, *, allow_private_image_urls: bool = False
) -> FolderPlan:
    """What ``folder`` would upload, and its job as ingest will build it; ``Refused`` if it cannot run."""
    product_id = product_id or folder.name
    if problem := product_id_problem(product_id, folder=product_id == folder.name):
        hint = ", or pass --product-id" if product_id == folder.name else ""
        raise Refused(f"{problem}{hint}; nothing was uploaded")
    photos: list[Path] = []
    manifest: Path | None = None
    skipped: list[Skipped] = []
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            skipped.append(
                Skipped(path.name + "/", "a subfolder: the inbox takes a product's files directly")
            )
        elif path.name == MANIFEST_NAME:
            manifest = path
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            photos.append(path)
        elif path.name != FOLDER_ERROR_NAME:
            kinds = " ".join(sorted(IMAGE_SUFFIXES))
            skipped.append(Skipped(path.name, f"not a photo ({kinds}) nor {MANIFEST_NAME}"))
    problems: list[str] = []
    document = None
    if manifest is not None:
        try:
            document = parse_json_document(manifest.read_bytes(), f"{folder.name}/{MANIFEST_NAME}")
        except InvalidJob as exc:
            raise Refused(f"{exc}; nothing was uploaded") from None
    try:
        spec = build_job(
            product_id,
            document,
            image_count=len(photos),
            defaults=defaults,
            allow_private_image_urls=allow_private_image_urls,
        )
    except InvalidJob as exc:
        raise Refused(f"{exc}; nothing was uploaded", hint=_job_file_hint(manifest)) from None
    checksums = []
    for path in photos:
        data = path.read_bytes()
        if photo_problem is not None and (problem := photo_problem(path.name, data)):
            problems.append(problem)
        checksums.append(photo_checksum(data))
    if problems:
        raise Refused(f"product {product_id!r}: " + "; ".join(problems) + "; nothing was uploaded")
    return FolderPlan(folder, product_id, photos, manifest, spec, skipped, checksums)


def _job_file_hint(manifest: Path | None) -> str:
    where = f"fix {manifest}" if manifest else "add photos or a product.json with image_urls"
    return f"{where}; the job file's fields are in the README (The job file)"


def plan_catalogue(
    path: Path,
    defaults: JobDefaults,
    stack: Stack | None = None,
    *,
    force: bool = False,
    allow_private_image_urls: bool = False,
) -> CataloguePlan:
    """A catalogue's rows, which of them will fail, and (with ``stack``) each row decided against the
    stack's jobs as its check will decide it; ``Refused`` if the file itself cannot run."""
    try:
        rows = parse_catalogue(path.read_bytes(), path.name)
    except InvalidJob as exc:
        raise Refused(
            f"{exc}; nothing was uploaded",
            hint="a CSV needs the columns id,image_urls (README: Catalogues and regeneration requests)",
        ) from None
    key = f"{INBOX}{path.name}"
    # The check's own rules, row by row in file order: a bad row, or a product listed again.
    checked = validate_rows(
        rows, defaults, key=key, version="", allow_private_image_urls=allow_private_image_urls
    )
    problems = {row.line: row.reason for row in checked if row.outcome is RowOutcome.REJECTED and row.reason}
    plan = CataloguePlan(path, key, rows, problems)
    if stack is not None:
        plan.plans = decide_catalogue(stack, plan, version="", defaults=defaults, force=force)
        # A product listed twice, or known in another spelling, fails too (as the check says).
        for row in plan.plans:
            if row.outcome is RowOutcome.REJECTED and row.reason:
                plan.problems.setdefault(row.line, row.reason)
    return plan


def decide_catalogue(
    stack: Stack, plan: CataloguePlan, *, version: str, defaults: JobDefaults, force: bool
) -> list[RowPlan]:
    """The rows as the catalogue's check will decide them on this stack (the day's budget aside)."""
    per_catalogue, _ = stack.image_limits()
    plans, _ = plan_rows(
        plan.rows,
        jobs=stack.jobs(),
        defaults=defaults,
        key=plan.key,
        version=version,
        images_per_catalogue=per_catalogue,
        force_all=force,
        allow_private_image_urls=stack.allow_private_image_urls(),
    )
    return plans


# --- uploading --------------------------------------------------------------------------------


def submit_paths(
    stack: Stack,
    paths: Sequence[Path],
    product_id: str | None = None,
    *,
    replace: bool = False,
    allow_invalid_rows: bool = False,
    force: bool = False,
    dry_run: bool = False,
) -> list[Submitted]:
    """Checks and quotes every path, then uploads them all (unless ``dry_run``); nothing is uploaded
    if any of them cannot run."""
    if product_id and len(paths) > 1:
        raise UsageError(
            f"--product-id names one product, but {len(paths)} folders were given: "
            "each folder would be merged into the same inbox/<product-id>/",
            hint="submit one folder with --product-id, or name the folders after their products",
        )
    defaults = stack.job_defaults()
    # Refused here exactly as ingest on this stack would refuse it (AllowPrivateImageUrls).
    private = stack.allow_private_image_urls()
    plans: list[FolderPlan | CataloguePlan] = []
    for path in paths:
        if path.is_file() and path.suffix.lower() in CATALOGUE_SUFFIXES:
            plans.append(plan_catalogue(path, defaults, stack, force=force, allow_private_image_urls=private))
        elif path.is_dir():
            plans.append(plan_folder(path, product_id, defaults, allow_private_image_urls=private))
        elif path.exists():
            raise UsageError(f"{path} is neither a product folder nor a .csv / .jsonl catalogue")
        else:
            raise UsageError(f"{path} does not exist")
    _refuse_collisions(plans)
    for plan in plans:
        if isinstance(plan, CataloguePlan) and plan.problems and not allow_invalid_rows and not dry_run:
            raise Refused(
                f"{plan.path.name}: {len(plan.problems)} of {len(plan.rows)} rows cannot run: "
                + "; ".join(list(plan.problems.values())[:5])
                + ("; ..." if len(plan.problems) > 5 else "")
                + "; nothing was uploaded",
                hint="fix those rows, or pass --allow-invalid-rows to submit anyway (they fail alone)",
            )
    return [
        upload_catalogue(stack, plan, defaults, force=force, dry_run=dry_run)
        if isinstance(plan, CataloguePlan)
        else upload_folder(stack, plan, replace, force=force, dry_run=dry_run)
        for plan in plans
    ]


def _refuse_collisions(plans: Sequence[FolderPlan | CataloguePlan]) -> None:
    seen: dict[str, Path] = {}
    for plan in plans:
        target = plan.product_id if isinstance(plan, FolderPlan) else plan.key
        where = plan.folder if isinstance(plan, FolderPlan) else plan.path
        if target in seen:
            raise UsageError(
                f"{seen[target]} and {where} would both go to {_destination(plan)}: "
                "their files would be merged (or replaced) into one job",
                hint="rename one of them, or submit them one at a time",
            )
        seen[target] = where


def _destination(plan: FolderPlan | CataloguePlan) -> str:
    return product_folder(plan.product_id) if isinstance(plan, FolderPlan) else plan.key


def folder_decision(stack: Stack, plan: FolderPlan, *, version: str, force: bool) -> Decision:
    """What ingest will make of the folder's work: the job it runs as, or the job that did it."""
    identity = plan.identity
    prior = stack.jobs().latest_job_of(identity.job_id)
    known = stack.jobs().product_spelling(plan.product_id) is not None
    return decide(identity, prior, asked_by=version, product_known=known, force=force)


def upload_folder(
    stack: Stack, plan: FolderPlan, replace: bool = False, *, force: bool = False, dry_run: bool = False
) -> Submitted:
    cost = job_quote(plan.spec)
    before = folder_decision(stack, plan, version="", force=force)
    priced = {"operations": cost.operations, "images": cost.images, "may_add_images": cost.may_add_images}
    folder_quote = {"outcome": before.novelty.value, **(priced if before.starts_work else {})}
    if dry_run or not before.starts_work:
        submitted = Submitted(str(plan.folder), [], [before.job_id], plan.product_id, "", plan.skipped)
        submitted.quote, submitted.uploaded = folder_quote, False
        if before.novelty is Novelty.UNCHANGED:
            record = stack.jobs().get(before.job_id)
            submitted.already[before.job_id] = record.status.value if record else "unknown"
        return submitted
    s3 = stack.s3()
    prefix = product_folder(plan.product_id)
    names = {path.name for path in plan.files}
    earlier = [
        o.key
        for o in stack.storage().list_objects(prefix)
        if o.key.rsplit("/", 1)[-1] not in names
        and classify_key(o.key).kind in (KeyKind.IMAGE, KeyKind.MANIFEST)
    ]
    notes = []
    if earlier and replace:
        for key in earlier:
            s3.delete_object(Bucket=stack.bucket, Key=key)
        notes.append(f"removed {len(earlier)} earlier file(s) from {prefix}: " + ", ".join(_names(earlier)))
    elif earlier:
        notes.append(
            f"{prefix} already holds {', '.join(_names(earlier))} from an earlier upload: "
            "part of this job too (--replace removes them first)"
        )
    keys = []
    metadata = {FORCE_METADATA: "true"} if force else {}
    for path in plan.files:
        key = prefix + path.name
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        s3.put_object(
            Bucket=stack.bucket, Key=key, Body=path.read_bytes(), ContentType=content_type, Metadata=metadata
        )
        keys.append(key)
    job_id = expected_folder_job(stack, plan, force=force)
    quiet = stack.quiet_seconds()
    quiet_text = f"{quiet} s" if quiet is not None else "InboxQuietSeconds"
    starts = (
        "now (product.json arrived last)"
        if plan.manifest
        else f"once the folder has had no new photo for {quiet_text} "
        "(no product.json; add one to start at once)"
    )
    submitted = Submitted(str(plan.folder), keys, [job_id], plan.product_id, starts, plan.skipped, notes)
    submitted.quote = folder_quote
    if force:
        submitted.notes.append("--force: a new generation, recorded as forced")
    return submitted


def _names(keys: Sequence[str]) -> list[str]:
    return [key.rsplit("/", 1)[-1] for key in keys]


def expected_folder_job(stack: Stack, plan: FolderPlan, *, force: bool = False) -> str:
    """The job id ingest gives the folder as it is now: its work, decided against the stack's jobs
    with the folder's version as ingest lists it (``steps/ingest/folders.start_folder``)."""
    objects = stack.storage().list_latest(product_folder(plan.product_id))
    kinds = {KeyKind.IMAGE, KeyKind.MANIFEST}
    version = folder_version((o.key, o.version) for o in objects if classify_key(o.key).kind in kinds)
    return folder_decision(stack, plan, version=version, force=force).job_id


def upload_catalogue(
    stack: Stack, plan: CataloguePlan, defaults: JobDefaults, *, force: bool = False, dry_run: bool = False
) -> Submitted:
    _, per_day = stack.image_limits()
    summary = quote(plan.plans)
    notes = [
        f"{len(plan.rows)} rows: {summary['new']} new, {summary['changed']} changed, "
        f"{summary['unchanged']} unchanged, {summary['forced'] + summary['retry']} run again, "
        f"{summary['rejected']} rejected, {summary['over_budget']} over budget"
    ]
    if per_day:
        used = stack.image_budget_used()
        notes.append(f"today's image budget: {used} of {per_day} taken, {max(0, per_day - used)} left")
    if plan.problems:
        notes.append(f"{len(plan.problems)} row(s) will fail alone (see invalid rows)")
    if dry_run:
        submitted = Submitted(str(plan.path), [], [], None, "", notes=notes, invalid_rows=plan.problems)
        submitted.quote, submitted.uploaded = summary, False
        return submitted
    answer = stack.s3().put_object(
        Bucket=stack.bucket,
        Key=plan.key,
        Body=plan.path.read_bytes(),
        ContentType="text/plain",
        Metadata={FORCE_METADATA: "true"} if force else {},
    )
    etag = str(answer.get("ETag", "")).strip('"')
    version = str(answer.get("VersionId") or etag)
    # The job each row runs as: decided again with the uploaded version, as the check will.
    decided = decide_catalogue(stack, plan, version=version, defaults=defaults, force=force)
    job_ids = [row.job_id for row in decided if row.outcome.runs and row.job_id]
    catalogue = Catalogue(plan.key, len(plan.rows), job_ids, etag, version)
    submitted = Submitted(
        str(plan.path),
        [plan.key],
        job_ids,
        None,
        "now",
        notes=notes,
        catalogue=catalogue,
        invalid_rows=plan.problems,
    )
    submitted.quote = summary
    return submitted


def submit_folder(stack: Stack, folder: Path, product_id: str | None = None) -> list[str]:
    """One folder or catalogue, checked and uploaded; the keys written (for the demo and tests)."""
    return submit_paths(stack, [folder], product_id)[0].keys
