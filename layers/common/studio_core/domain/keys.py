"""Object keys of the bucket, and the ids derived from them.

```
inbox/<product-id>/<image>.jpg|jpeg|png|webp   a product's photos (.heic|.heif: converted to JPEG)
inbox/<product-id>/product.json                its job file (optional)
inbox/<feed>.csv | inbox/<feed>.jsonl          a catalogue: one job per row
inbox/<feed>.csv.report/                       its check (checked.json: the quote), its report, and
                                               each run's files (<run>/rows.json, <run>/run.json)
cancel/<name>.json                             a cancel request: {"job_id": ...} or {"catalogue": ...}
regenerate/<product-id>/<request>.json         a regeneration request (one key per request)
regenerate/<product-id>.json                   the same, the older form (one key per product)
review/<product-id>/<job-id>/<name>.json       a review decision: approve, reject, retry (domain.review)
outbox/<product-id>/<job-id>/...               generated images and result.json
outbox/<product-id>/converted/<checksum>.jpg   a HEIC photo as the JPEG Aiuta is given
published/<product-id>/<type>-<n>.<ext>        an approved image, labelled as AI-generated (XMP)
published/feed.csv | feed.jsonl                the product image feed (and shopify.csv,
                                               merchant-center.tsv), rewritten on each publish
answers/<job-id>/<operation-id>.json           the answer of the check that saw an operation
                                               succeed, which its copy reads (expires after 7 days)
```
Error reports are written next to the input (``<key>.error.json``, or ``_error.json`` in a
product folder) and are ignored by ingest, so reporting an error never triggers a new job.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from urllib.parse import quote

INBOX = "inbox/"
OUTBOX = "outbox/"
REGENERATE = "regenerate/"
CANCEL = "cancel/"
CANCEL_ANSWER_SUFFIX = ".done.json"
REVIEW = "review/"
REVIEW_ANSWER_SUFFIX = ".done.json"
PUBLISHED = "published/"
ANSWERS = "answers/"
CATALOGUE_CHECK_NAME = "checked.json"
CATALOGUE_REPORT_NAME = "report.json"
CATALOGUE_ROWS_NAME = "rows.json"
CATALOGUE_RUN_ITEMS_NAME = "run.json"
MANIFEST_NAME = "product.json"
FOLDER_ERROR_NAME = "_error.json"
FOLDER_ERROR_SUFFIX = ".error.json"
INVALID_IDS_FOLDER = "_invalid-product-ids"
# iPhone photos are HEIC (HEIF): accepted, and converted to JPEG at ingest (Aiuta takes JPEG, PNG, WebP).
CONVERTED_SUFFIXES = frozenset({".heic", ".heif"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", *CONVERTED_SUFFIXES})
CATALOGUE_SUFFIXES = frozenset({".csv", ".jsonl"})
PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
EXECUTION_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class KeyKind(StrEnum):
    IMAGE = "image"
    MANIFEST = "manifest"
    CATALOGUE = "catalogue"
    REGENERATION = "regeneration"
    CANCEL = "cancel"
    REVIEW = "review"
    IGNORED = "ignored"


@dataclass(frozen=True)
class ClassifiedKey:
    kind: KeyKind
    key: str
    product_id: str | None = None
    reason: str | None = None
    job_id: str | None = None  # a review decision's job


def is_valid_product_id(product_id: str) -> bool:
    return bool(PRODUCT_ID.fullmatch(product_id))


def product_id_problem(product_id: str, *, folder: bool = False) -> str | None:
    """Why a name cannot be a product id, with a name that would do; None when it can."""
    if is_valid_product_id(product_id):
        return None
    suggestion = re.sub(r"[^A-Za-z0-9._-]+", "-", product_id).strip("-._")[:100]
    hint = ""
    if suggestion and is_valid_product_id(suggestion):
        hint = f" (rename it, e.g. to {suggestion!r})" if folder else f" (e.g. {suggestion!r})"
    return (
        f"{'the folder name ' if folder else ''}{product_id!r} is not a valid product id: use 1-100 "
        f"letters, digits, '.', '_' or '-', starting with a letter or digit{hint}"
    )


def classify_key(key: str) -> ClassifiedKey:
    """What a new object in the bucket means for ingest.

    Keys are split on ``/`` as S3 stores them (``..``, ``.`` and empty segments are kept, not
    normalised away), so ``inbox/../x.jpg`` names the product ``..``, which ingest rejects.
    """
    name = key.rsplit("/", 1)[-1]
    suffix = PurePosixPath(name).suffix.lower()
    if name.endswith(".error.json") or name == FOLDER_ERROR_NAME:
        return ClassifiedKey(KeyKind.IGNORED, key, reason="an error report written by the pipeline")
    if key.startswith(CANCEL):
        if name.endswith(CANCEL_ANSWER_SUFFIX):
            return ClassifiedKey(KeyKind.IGNORED, key, reason="a cancel's answer written by the pipeline")
        if suffix == ".json":
            return ClassifiedKey(KeyKind.CANCEL, key)
        return ClassifiedKey(KeyKind.IGNORED, key, reason="cancel/ takes <name>.json files only")
    if key.startswith(REVIEW):
        rest = key[len(REVIEW) :].split("/")
        if name.endswith(REVIEW_ANSWER_SUFFIX):
            return ClassifiedKey(
                KeyKind.IGNORED, key, reason="a review decision's answer written by the pipeline"
            )
        if suffix == ".json" and len(rest) == 3 and rest[0] and rest[1]:
            return ClassifiedKey(KeyKind.REVIEW, key, product_id=rest[0], job_id=rest[1])
        return ClassifiedKey(
            KeyKind.IGNORED, key, reason="review/ takes <product-id>/<job-id>/<name>.json files only"
        )
    if key.startswith(REGENERATE):
        rest = key[len(REGENERATE) :].split("/")
        if suffix == ".json" and len(rest) == 1:
            return ClassifiedKey(KeyKind.REGENERATION, key, product_id=PurePosixPath(name).stem)
        if suffix == ".json" and len(rest) == 2:
            return ClassifiedKey(KeyKind.REGENERATION, key, product_id=rest[0])
        return ClassifiedKey(
            KeyKind.IGNORED,
            key,
            reason="regenerate/ takes <product-id>/<request>.json (or <product-id>.json) files only",
        )
    if not key.startswith(INBOX):
        return ClassifiedKey(KeyKind.IGNORED, key, reason="outside inbox/, regenerate/, cancel/ and review/")
    parts = key[len(INBOX) :].split("/")
    if len(parts) == 1:
        if suffix in CATALOGUE_SUFFIXES:
            return ClassifiedKey(KeyKind.CATALOGUE, key)
        return ClassifiedKey(
            KeyKind.IGNORED, key, reason="files directly in inbox/ must be a .csv or .jsonl catalogue"
        )
    product_id = parts[0]
    if len(parts) != 2:
        if not is_valid_product_id(product_id):  # inbox//x/a.jpg, inbox/../../a.jpg: say so
            return ClassifiedKey(KeyKind.IMAGE, key, product_id=product_id)
        return ClassifiedKey(KeyKind.IGNORED, key, reason="put files directly in inbox/<product-id>/")
    if name == MANIFEST_NAME:
        return ClassifiedKey(KeyKind.MANIFEST, key, product_id=product_id)
    if suffix in IMAGE_SUFFIXES:
        return ClassifiedKey(KeyKind.IMAGE, key, product_id=product_id)
    return ClassifiedKey(
        KeyKind.IGNORED,
        key,
        product_id=product_id,
        reason=f"not an image ({', '.join(sorted(IMAGE_SUFFIXES))}) nor {MANIFEST_NAME}",
    )


def product_folder(product_id: str) -> str:
    return f"{INBOX}{product_id}/"


def manifest_key(product_id: str) -> str:
    return f"{INBOX}{product_id}/{MANIFEST_NAME}"


def error_report_key(source_key: str, product_id: str | None = None) -> str:
    """Where the report of an invalid input goes: beside the file, or in the product folder.

    A folder whose name is not a valid product id (``..``, empty, spaces) gets its report under
    ``inbox/_invalid-product-ids/``, a key that never names a product folder itself.
    """
    if product_id is not None and not is_valid_product_id(product_id):
        safe = EXECUTION_NAME_UNSAFE.sub("_", product_id)[:60] or "_"
        digest = hashlib.sha256(product_id.encode()).hexdigest()[:8]
        return f"{INBOX}{INVALID_IDS_FOLDER}/{safe}-{digest}{FOLDER_ERROR_SUFFIX}"
    if product_id is not None and source_key.startswith(product_folder(product_id)):
        return product_folder(product_id) + FOLDER_ERROR_NAME
    return f"{source_key}{FOLDER_ERROR_SUFFIX}"


def catalogue_report_prefix(key: str) -> str:
    """Where a catalogue's check, report and runs go: next to it (ingest ignores them)."""
    return f"{key}.report/"


def catalogue_run_prefix(key: str, run_name: str) -> str:
    return f"{catalogue_report_prefix(key)}{run_name}/"


def regeneration_request_key(product_id: str, request_id: str) -> str:
    """``regenerate/<product>/<request>.json``: each request its own key, so none overwrites another."""
    return f"{REGENERATE}{product_id}/{request_id}.json"


def job_prefix(product_id: str, job_id: str) -> str:
    return f"{OUTBOX}{product_id}/{job_id}/"


def converted_photo_key(product_id: str, checksum: str) -> str:
    """Where the JPEG made from a HEIC photo goes: outside inbox/, named by the photo's content."""
    return f"{OUTBOX}{product_id}/converted/{checksum[:32]}.jpg"


def needs_conversion(key: str) -> bool:
    """A photo Aiuta cannot take as it is (HEIC), converted to JPEG first."""
    return PurePosixPath(key).suffix.lower() in CONVERTED_SUFFIXES


def output_key(
    product_id: str, job_id: str, kind: str, image_type_label: str, variant: int, round_: int
) -> str:
    """``outbox/<product>/<job>/on_figure/front-standing-v1.png`` (``-r1`` for a regeneration round)."""
    shot = image_type_label.replace("/", "-")
    round_part = f"-r{round_}" if round_ else ""
    return f"{job_prefix(product_id, job_id)}{kind}/{shot}-v{variant}{round_part}.png"


def result_key(product_id: str, job_id: str) -> str:
    return f"{job_prefix(product_id, job_id)}result.json"


def operation_answer_key(job_id: str, operation_id: str) -> str:
    """``answers/<job>/<operation>.json``: the answer a check kept for the copy (ids escaped for a key)."""
    return f"{ANSWERS}{quote(job_id, safe='')}/{quote(operation_id, safe='')}.json"


def review_decision_key(product_id: str, job_id: str, name: str) -> str:
    """``review/<product>/<job>/<name>.json``: each decision its own key, so none overwrites another."""
    return f"{REVIEW}{product_id}/{job_id}/{name}.json"


def image_type_slug(image_type_label: str) -> str:
    """``front/standing`` as a file name part: ``front-standing``."""
    return image_type_label.replace("/", "-")


def published_prefix(product_id: str) -> str:
    return f"{PUBLISHED}{product_id}/"


def published_key(product_id: str, image_type_label: str, position: int, extension: str) -> str:
    """``published/<product>/front-standing-1.png``: a stable key a shop links to; a later approval
    of the type replaces it (the bucket's versioning keeps the earlier one)."""
    return f"{published_prefix(product_id)}{image_type_slug(image_type_label)}-{position}.{extension}"


FEED_CSV_KEY = f"{PUBLISHED}feed.csv"
FEED_JSONL_KEY = f"{PUBLISHED}feed.jsonl"
SHOPIFY_CSV_KEY = f"{PUBLISHED}shopify.csv"
MERCHANT_CENTER_KEY = f"{PUBLISHED}merchant-center.tsv"
