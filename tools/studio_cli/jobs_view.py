"""What the CLI does against a deployed stack (real AWS, or the local stack through its env file).

Everything here reads the same environment: ``STUDIO_BUCKET``, ``STUDIO_TABLE`` (and the usual
``AWS_*`` variables, ``AWS_ENDPOINT_URL`` for the local stack).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from pydantic import ValidationError

from studio_core.aws.jobs_table import JobsTable
from studio_core.domain.catalogue import parse_catalogue
from studio_core.domain.errors import InvalidJob
from studio_core.domain.jobs import RegenerationRequest, describe_validation_error
from studio_core.domain.keys import (
    CATALOGUE_SUFFIXES,
    IMAGE_SUFFIXES,
    MANIFEST_NAME,
    product_folder,
    product_id_problem,
    regeneration_request_key,
)
from studio_core.domain.record import JobRecord


class MissingSettingError(RuntimeError):
    pass


@dataclass(frozen=True)
class Stack:
    bucket: str
    table: str

    @classmethod
    def from_env(cls) -> Stack:
        missing = [name for name in ("STUDIO_BUCKET", "STUDIO_TABLE") if not os.environ.get(name)]
        if missing:
            raise MissingSettingError(
                f"{' and '.join(missing)} not set: source the file from `studio local up --env-file PATH`, "
                "or export the stack's outputs (StudioBucketName, JobsTableName)"
            )
        return cls(os.environ["STUDIO_BUCKET"], os.environ["STUDIO_TABLE"])

    def s3(self) -> Any:
        return boto3.client("s3")

    def jobs(self) -> JobsTable:
        return JobsTable(self.table)


def submit_folder(stack: Stack, folder: Path, product_id: str | None = None) -> list[str]:
    """Uploads a product folder to ``inbox/<product-id>/``: photos first, ``product.json`` last
    (its arrival starts the job at once), or a catalogue file to ``inbox/``."""
    s3 = stack.s3()
    if folder.is_file() and folder.suffix.lower() in CATALOGUE_SUFFIXES:
        try:  # the same file-level checks ingest makes (rows are checked one by one there)
            parse_catalogue(folder.read_bytes(), folder.name)
        except InvalidJob as exc:
            raise ValueError(f"{exc}; nothing was uploaded") from None
        key = f"inbox/{folder.name}"
        s3.upload_file(str(folder), stack.bucket, key)
        return [key]
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a product folder nor a .csv/.jsonl catalogue")
    product_id = product_id or folder.name
    if problem := product_id_problem(product_id, folder=True):
        raise ValueError(f"{problem}, or pass --product-id; nothing was uploaded")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    photos = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    manifest = [p for p in files if p.name == MANIFEST_NAME]
    keys = []
    for path in [*photos, *manifest]:
        key = product_folder(product_id) + path.name
        s3.upload_file(str(path), stack.bucket, key)
        keys.append(key)
    return keys


def request_regeneration(
    stack: Stack, job_id: str, image_types: list[str], number_of_generations: int | None = None
) -> str:
    record = stack.jobs().get(job_id)
    if record is None:
        raise LookupError(f"no job {job_id!r} in {stack.table}")
    body: dict[str, Any] = {"job_id": job_id, "image_types": image_types}
    if number_of_generations:
        body["number_of_generations"] = number_of_generations
    try:  # the checks ingest makes: known on-figure labels, 1-4 generations
        RegenerationRequest.model_validate(body)
    except ValidationError as exc:
        raise ValueError("; ".join(describe_validation_error(exc))) from None
    # Each request its own key: two requests in quick succession never overwrite each other.
    request_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
    key = regeneration_request_key(record.product_id, request_id)
    stack.s3().put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(body).encode())
    return key


def download_results(stack: Stack, job_id: str, target: Path) -> list[Path]:
    record = stack.jobs().get(job_id)
    if record is None:
        raise LookupError(f"no job {job_id!r} in {stack.table}")
    saved = []
    for image in record.images:
        if not image.key:
            continue
        path = target / job_id / image.key.split(f"/{job_id}/", 1)[-1]
        path.parent.mkdir(parents=True, exist_ok=True)
        stack.s3().download_file(stack.bucket, image.key, str(path))
        saved.append(path)
    return saved


def job_rows(records: list[JobRecord]) -> list[list[str]]:
    rows = [["JOB", "PRODUCT", "STATUS", "OPERATIONS", "IMAGES", "SECONDS", "NOTE"]]
    for record in records:
        rows.append(
            [
                record.job_id,
                record.product_id,
                record.status.value,
                ", ".join((op.operation_id or "none").split("-", 1)[-1][:8] for op in record.operations)
                or "-",
                str(len([i for i in record.images if i.key])),
                _seconds(record),
                (record.error or "")[:90],
            ]
        )
    return rows


def _seconds(record: JobRecord) -> str:
    end = record.finished_at or record.updated_at
    try:
        elapsed = datetime.fromisoformat(end) - datetime.fromisoformat(record.created_at)
    except ValueError:
        return "-"
    return f"{elapsed.total_seconds():.1f}"


def render_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def watch(
    stack: Stack,
    say: Callable[[str], None] = print,
    *,
    expect: int | None = None,
    timeout_seconds: float = 300,
    interval_seconds: float = 1.0,
) -> list[JobRecord]:
    """Prints each job's status changes until every job (at least ``expect`` of them) is terminal."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout_seconds
    while True:
        records = stack.jobs().all_jobs()
        for record in records:
            if seen.get(record.job_id) != record.status:
                seen[record.job_id] = record.status
                note = f"  {record.error}" if record.error else ""
                say(f"  {record.product_id:<22} {record.status.value:<12} {record.job_id}{note}")
        done = all(r.status.is_terminal for r in records)
        if records and done and (expect is None or len(records) >= expect):
            return records
        if time.monotonic() > deadline:
            say(f"  still running after {timeout_seconds:.0f} s")
            return records
        time.sleep(interval_seconds)
