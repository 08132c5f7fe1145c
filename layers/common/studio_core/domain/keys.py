"""Object keys of the bucket, and the ids derived from them.

```
inbox/<product-id>/<image>.jpg|jpeg|png|webp   a product's photos
inbox/<product-id>/product.json                its job file (optional)
inbox/<feed>.csv | inbox/<feed>.jsonl          a catalogue: one job per row
regenerate/<product-id>.json                   a regeneration request
outbox/<product-id>/<job-id>/...               generated images and result.json
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

INBOX = "inbox/"
OUTBOX = "outbox/"
REGENERATE = "regenerate/"
MANIFEST_NAME = "product.json"
FOLDER_ERROR_NAME = "_error.json"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
CATALOGUE_SUFFIXES = frozenset({".csv", ".jsonl"})
PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
EXECUTION_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class KeyKind(StrEnum):
    IMAGE = "image"
    MANIFEST = "manifest"
    CATALOGUE = "catalogue"
    REGENERATION = "regeneration"
    IGNORED = "ignored"


@dataclass(frozen=True)
class ClassifiedKey:
    kind: KeyKind
    key: str
    product_id: str | None = None
    reason: str | None = None


def is_valid_product_id(product_id: str) -> bool:
    return bool(PRODUCT_ID.fullmatch(product_id))


def product_id_problem(product_id: str) -> str | None:
    if is_valid_product_id(product_id):
        return None
    return (
        f"product id {product_id!r} must be 1-100 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    )


def classify_key(key: str) -> ClassifiedKey:
    """What a new object in the bucket means for ingest."""
    path = PurePosixPath(key)
    name, suffix = path.name, path.suffix.lower()
    if name.endswith(".error.json") or name == FOLDER_ERROR_NAME:
        return ClassifiedKey(KeyKind.IGNORED, key, reason="an error report written by the pipeline")
    if key.startswith(REGENERATE):
        if len(path.parts) == 2 and suffix == ".json":
            return ClassifiedKey(KeyKind.REGENERATION, key, product_id=path.stem)
        return ClassifiedKey(KeyKind.IGNORED, key, reason="regenerate/ takes <product-id>.json files only")
    if not key.startswith(INBOX):
        return ClassifiedKey(KeyKind.IGNORED, key, reason="outside inbox/ and regenerate/")
    parts = path.parts[1:]
    if len(parts) == 1:
        if suffix in CATALOGUE_SUFFIXES:
            return ClassifiedKey(KeyKind.CATALOGUE, key)
        return ClassifiedKey(
            KeyKind.IGNORED, key, reason="files directly in inbox/ must be a .csv or .jsonl catalogue"
        )
    if len(parts) != 2:
        return ClassifiedKey(KeyKind.IGNORED, key, reason="put files directly in inbox/<product-id>/")
    product_id = parts[0]
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
    """Where the report of an invalid input goes: beside the file, or in the product folder."""
    if product_id is not None and source_key.startswith(product_folder(product_id)):
        return product_folder(product_id) + FOLDER_ERROR_NAME
    return f"{source_key}.error.json"


def job_id_for(product_id: str, *fingerprint: str) -> str:
    """The same inputs always give the same job id, so a duplicate event finds the existing job."""
    digest = hashlib.sha256("\n".join([product_id, *fingerprint]).encode()).hexdigest()[:16]
    return f"{product_id}-{digest}"


def execution_name(job_id: str) -> str:
    """A Step Functions execution name (1-80 of A-Z a-z 0-9 - _) that is unique per job."""
    safe = EXECUTION_NAME_UNSAFE.sub("_", job_id)
    if len(safe) <= 80:
        return safe
    return safe[:63] + "-" + hashlib.sha256(job_id.encode()).hexdigest()[:16]


def resume_execution_name(job_id: str, attempt: int) -> str:
    """The execution of the job's ``attempt``-th ``studio resume`` (the job id shortened if needed)."""
    suffix = f"-resume-{attempt}"
    name = execution_name(job_id)
    if len(name) + len(suffix) > 80:
        name = name[: 80 - len(suffix) - 17] + "-" + hashlib.sha256(job_id.encode()).hexdigest()[:16]
    return name + suffix


def job_prefix(product_id: str, job_id: str) -> str:
    return f"{OUTBOX}{product_id}/{job_id}/"


def output_key(
    product_id: str, job_id: str, kind: str, image_type_label: str, variant: int, round_: int
) -> str:
    """``outbox/<product>/<job>/on_figure/front-standing-v1.png`` (``-r1`` for a regeneration round)."""
    shot = image_type_label.replace("/", "-")
    round_part = f"-r{round_}" if round_ else ""
    return f"{job_prefix(product_id, job_id)}{kind}/{shot}-v{variant}{round_part}.png"


def result_key(product_id: str, job_id: str) -> str:
    return f"{job_prefix(product_id, job_id)}result.json"
