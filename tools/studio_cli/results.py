"""``studio results``: a job's ``result.json``, or with ``--download DIR`` its whole folder.

The download is the job's folder of the outbox as it is: the images, ``result.json``, the
gallery page and the copies of the input photos, under ``DIR/<job-id>/``; the page's relative
links then work from disk. A job from before galleries existed gets its page rendered here.

Nothing is written outside ``DIR/<job-id>/``, whatever the bucket's keys say: a key whose rest
(after the job's prefix) has ``..`` or ``.`` segments, an empty segment (``//``, a leading
``/``), a backslash or a control character is skipped, and named in ``Download.skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from studio_cli.errors import CliError, NotFound
from studio_cli.printable import printable
from studio_cli.stack import Stack
from studio_core.domain.gallery import GALLERY_NAME, gallery_inputs, render_gallery
from studio_core.domain.jobs import load_json_text
from studio_core.domain.keys import job_prefix, result_key
from studio_core.domain.record import JobRecord


@dataclass
class Download:
    directory: Path
    files: list[Path] = field(default_factory=list)
    images: int = 0
    rendered_gallery: bool = False
    skipped: list[str] = field(default_factory=list)  # keys that would land outside the directory

    @property
    def gallery(self) -> Path:
        return self.directory / GALLERY_NAME

    def document(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "gallery": str(self.gallery),
            "images": self.images,
            "files": [str(f) for f in self.files],
            "skipped": self.skipped,
        }


def find_job(stack: Stack, job_id: str) -> JobRecord:
    record = stack.jobs().get(job_id)
    if record is None:
        raise NotFound(f"there is no job {job_id!r} in {stack.table}", hint="`studio status` lists the jobs")
    return record


def read_result(stack: Stack, record: JobRecord) -> dict[str, Any] | None:
    """The job's ``result.json``, or None when it has none (yet)."""
    key = record.result_key or result_key(record.product_id, record.job_id)
    try:
        text = stack.storage().read_bytes(key).decode("utf-8", "replace")
        return load_json_text(text)  # type: ignore[no-any-return]
    except (ValueError, RecursionError) as exc:
        raise CliError(f"{key} is not a readable result document ({printable(str(exc))[:200]})") from None
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise


def local_path(directory: Path, relative_key: str) -> Path | None:
    """Where ``relative_key`` (a key after the job's prefix) goes under ``directory``; None when
    it would go anywhere else, or names no file."""
    parts = relative_key.split("/")
    if any(part in ("", ".", "..") or "\\" in part or printable(part) != part for part in parts):
        return None
    path = directory.joinpath(*parts)
    inside = path.resolve().is_relative_to(directory.resolve())
    return path if inside else None


def download(stack: Stack, record: JobRecord, target: Path) -> Download:
    """Copies the job's folder of the outbox to ``target/<job-id>/``."""
    if local_path(target, record.job_id) is None:
        raise CliError(f"job id '{printable(record.job_id)}' cannot name a folder; nothing was downloaded")
    prefix = job_prefix(record.product_id, record.job_id)
    directory = target / record.job_id
    result = Download(directory)
    s3 = stack.s3()
    image_keys = {image.key for image in record.images if image.key}
    for stored in stack.storage().list_objects(prefix):
        path = local_path(directory, stored.key.removeprefix(prefix))
        if path is None:
            result.skipped.append(stored.key)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(stack.bucket, stored.key, str(path))
        result.files.append(path)
        result.images += stored.key in image_keys
    if not result.gallery.exists():
        directory.mkdir(parents=True, exist_ok=True)
        inputs = [p.name for p in (directory / "inputs").glob("*")] if (directory / "inputs").is_dir() else []
        keys = [key for key in record.input_keys if key.rsplit("/", 1)[-1] in inputs]
        result.gallery.write_text(render_gallery(record, gallery_inputs(record, keys)), encoding="utf-8")
        result.files.append(result.gallery)
        result.rendered_gallery = True
    return result
