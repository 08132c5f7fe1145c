"""``studio submit``: check product folders and catalogues the way ingest will, then upload them.

Everything is checked before the first byte leaves: the product id, the job file (against the
stack's own defaults), every photo, a catalogue's header and rows. Then photos go up first and
``product.json`` last (its arrival starts the job at once), and the job ids ingest will give the
uploads are computed from the same keys and ETags ingest reads, so ``studio watch`` can wait for
exactly those jobs.
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
from studio_core.domain.catalogue import CatalogueRow, catalogue_job_id, parse_catalogue
from studio_core.domain.errors import InvalidJob
from studio_core.domain.jobs import JobDefaults, JobSpec, build_job, parse_json_document
from studio_core.domain.keys import (
    CATALOGUE_SUFFIXES,
    FOLDER_ERROR_NAME,
    IMAGE_SUFFIXES,
    INBOX,
    MANIFEST_NAME,
    KeyKind,
    classify_key,
    job_id_for,
    product_folder,
    product_id_problem,
)

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

    def document(self) -> dict[str, Any]:
        return {
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
    if photo_problem is not None:
        problems = [p for p in (photo_problem(path.name, path.read_bytes()) for path in photos) if p]
    if problems:
        raise Refused(f"product {product_id!r}: " + "; ".join(problems) + "; nothing was uploaded")
    return FolderPlan(folder, product_id, photos, manifest, spec, skipped)


def _job_file_hint(manifest: Path | None) -> str:
    where = f"fix {manifest}" if manifest else "add photos or a product.json with image_urls"
    return f"{where}; the job file's fields are in the README (The job file)"


def plan_catalogue(
    path: Path, defaults: JobDefaults, *, allow_private_image_urls: bool = False
) -> CataloguePlan:
    """A catalogue's rows and which of them will fail; ``Refused`` if the file itself cannot run."""
    try:
        rows = parse_catalogue(path.read_bytes(), path.name)
    except InvalidJob as exc:
        raise Refused(
            f"{exc}; nothing was uploaded",
            hint="a CSV needs the columns id,image_urls (README: Catalogues and regeneration requests)",
        ) from None
    problems: dict[int, str] = {}
    for row in rows:
        if row.problem or row.product_id is None:
            problems[row.line] = row.problem or f"line {row.line}: no product id"
            continue
        if problem := product_id_problem(row.product_id):
            problems[row.line] = f"line {row.line}: {problem}"
            continue
        try:
            build_job(
                row.product_id,
                row.document,
                image_count=0,
                defaults=defaults,
                allow_private_image_urls=allow_private_image_urls,
            )
        except InvalidJob as exc:
            problems[row.line] = f"line {row.line}: {exc}"
    return CataloguePlan(path, f"{INBOX}{path.name}", rows, problems)


# --- uploading --------------------------------------------------------------------------------


def submit_paths(
    stack: Stack,
    paths: Sequence[Path],
    product_id: str | None = None,
    *,
    replace: bool = False,
    allow_invalid_rows: bool = False,
) -> list[Submitted]:
    """Checks every path, then uploads them all; nothing is uploaded if any of them cannot run."""
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
            plans.append(plan_catalogue(path, defaults, allow_private_image_urls=private))
        elif path.is_dir():
            plans.append(plan_folder(path, product_id, defaults, allow_private_image_urls=private))
        elif path.exists():
            raise UsageError(f"{path} is neither a product folder nor a .csv / .jsonl catalogue")
        else:
            raise UsageError(f"{path} does not exist")
    _refuse_collisions(plans)
    for plan in plans:
        if isinstance(plan, CataloguePlan) and plan.problems and not allow_invalid_rows:
            raise Refused(
                f"{plan.path.name}: {len(plan.problems)} of {len(plan.rows)} rows cannot run: "
                + "; ".join(list(plan.problems.values())[:5])
                + ("; ..." if len(plan.problems) > 5 else "")
                + "; nothing was uploaded",
                hint="fix those rows, or pass --allow-invalid-rows to submit anyway (they fail alone)",
            )
    return [
        upload_catalogue(stack, plan)
        if isinstance(plan, CataloguePlan)
        else upload_folder(stack, plan, replace)
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


def upload_folder(stack: Stack, plan: FolderPlan, replace: bool = False) -> Submitted:
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
    for path in plan.files:
        key = prefix + path.name
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        s3.put_object(Bucket=stack.bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)
        keys.append(key)
    job_id = expected_folder_job(stack, plan.product_id)
    quiet = stack.quiet_seconds()
    quiet_text = f"{quiet} s" if quiet is not None else "InboxQuietSeconds"
    starts = (
        "now (product.json arrived last)"
        if plan.manifest
        else f"once the folder has had no new photo for {quiet_text} "
        "(no product.json; add one to start at once)"
    )
    submitted = Submitted(str(plan.folder), keys, [job_id], plan.product_id, starts, plan.skipped, notes)
    existing = stack.jobs().get(job_id)
    if existing is not None:
        submitted.already[job_id] = existing.status.value
    return submitted


def _names(keys: Sequence[str]) -> list[str]:
    return [key.rsplit("/", 1)[-1] for key in keys]


def expected_folder_job(stack: Stack, product_id: str) -> str:
    """The job id ingest gives the folder as it is now: its photos and product.json, keys and ETags
    (the fingerprint of ``steps/ingest/folders.start_folder``)."""
    objects = stack.storage().list_objects(product_folder(product_id))
    classified = [(classify_key(o.key).kind, o) for o in objects]
    images = sorted((o for kind, o in classified if kind is KeyKind.IMAGE), key=lambda o: o.key)
    manifest = [o for kind, o in classified if kind is KeyKind.MANIFEST]
    return job_id_for(product_id, *(f"{o.key}@{o.etag}" for o in [*images, *manifest]))


def upload_catalogue(stack: Stack, plan: CataloguePlan) -> Submitted:
    answer = stack.s3().put_object(
        Bucket=stack.bucket, Key=plan.key, Body=plan.path.read_bytes(), ContentType="text/plain"
    )
    etag = str(answer.get("ETag", "")).strip('"')
    # The ids the catalogue run gives (steps/catalogue_run): product, catalogue key and its ETag;
    # a product listed twice is one job.
    job_ids = list(
        dict.fromkeys(
            catalogue_job_id(row.product_id, plan.key, etag)
            for row in plan.rows
            if row.product_id is not None
        )
    )
    catalogue = Catalogue(plan.key, len(plan.rows), job_ids, etag)
    notes = [f"{len(plan.rows)} rows, one job each"]
    if plan.problems:
        notes.append(f"{len(plan.problems)} row(s) will fail alone (see invalid rows)")
    return Submitted(
        str(plan.path),
        [plan.key],
        job_ids,
        None,
        "now",
        notes=notes,
        catalogue=catalogue,
        invalid_rows=plan.problems,
    )


def submit_folder(stack: Stack, folder: Path, product_id: str | None = None) -> list[str]:
    """One folder or catalogue, checked and uploaded; the keys written (for the demo and tests)."""
    return submit_paths(stack, [folder], product_id)[0].keys
