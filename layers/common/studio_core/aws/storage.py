"""S3 access for the studio bucket: read inputs, presign them, stream generated images in.

A generated image goes from its link to the bucket in one pass (``aws.downloads.open_download``
then ``Storage.upload_stream``): up to ``PART_BYTES`` it is one PUT, past that a multipart upload
whose parts leave as they fill. A copy holds one part at a time, and only its first
``PART_IN_MEMORY_BYTES`` in memory (the rest waits in /tmp), so eight copies of 20 MB images
take about the memory of eight copies of 1 MB ones.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import boto3
from botocore.config import Config

# S3's smallest part is 5 MiB (except the last); 8 MiB is what the AWS CLI and s3transfer use.
PART_BYTES = 8 * 1024 * 1024
# Most generated images (1-2 MB) stay in memory; a bigger part continues in /tmp.
PART_IN_MEMORY_BYTES = 2 * 1024 * 1024
# Enough connections for finalize's copy workers and the calls around them.
S3_MAX_POOL_CONNECTIONS = 32


@dataclass(frozen=True)
class StoredObject:
    key: str
    etag: str
    size: int
    last_modified: datetime
    version_id: str | None = None  # None in a bucket that never had versioning

    @property
    def version(self) -> str:
        """What names this version of the object: its version id, else its ETag."""
        return self.version_id or self.etag


class FileTooLarge(Exception):
    """An object larger than what its reader accepts; nothing of it was read."""

    def __init__(self, key: str, size: int, limit: int) -> None:
        super().__init__(f"{key} is {size} bytes, more than the {limit} accepted")
        self.key, self.size, self.limit = key, size, limit


class Storage:
    """The one bucket the product uses: ``inbox/``, ``outbox/`` and ``regenerate/``."""

    def __init__(self, bucket: str, s3_client: Any | None = None) -> None:
        self.bucket = bucket
        self._s3 = s3_client or boto3.client(
            "s3", config=Config(max_pool_connections=S3_MAX_POOL_CONNECTIONS)
        )

    def list_objects(self, prefix: str) -> list[StoredObject]:
        paginator = self._s3.get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found.append(
                    StoredObject(
                        key=item["Key"],
                        etag=item["ETag"].strip('"'),
                        size=item["Size"],
                        last_modified=item["LastModified"],
                    )
                )
        return found

    def list_latest(self, prefix: str, limit: int | None = None) -> list[StoredObject]:
        """The objects under ``prefix`` with the version id of each one's current version, so each
        is read as it was listed even if it is overwritten meanwhile. With ``limit``, the listing
        stops once it has found more than ``limit`` objects (the caller refuses such a folder)."""
        paginator = self._s3.get_paginator("list_object_versions")
        found: list[StoredObject] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            if limit is not None and len(found) > limit:
                break
            for item in page.get("Versions", []):
                if not item.get("IsLatest"):
                    continue
                version = item.get("VersionId")
                found.append(
                    StoredObject(
                        key=item["Key"],
                        etag=item["ETag"].strip('"'),
                        size=item["Size"],
                        last_modified=item["LastModified"],
                        version_id=version if version and version != "null" else None,
                    )
                )
        return sorted(found, key=lambda o: o.key)

    def read_bytes(self, key: str, version_id: str | None = None) -> bytes:
        """The object's bytes: the version ``version_id`` (that an event named), else the current one."""
        data: bytes = self._s3.get_object(Bucket=self.bucket, Key=key, **_version(version_id))["Body"].read()
        return data

    def read_object(
        self, key: str, version_id: str | None = None, max_bytes: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The object's bytes and its user metadata (``x-amz-meta-*``, names in lower case). Past
        ``max_bytes`` nothing is read: ``FileTooLarge`` with the object's size."""
        answer = self._s3.get_object(Bucket=self.bucket, Key=key, **_version(version_id))
        size = int(answer.get("ContentLength") or 0)
        if max_bytes is not None and size > max_bytes:
            answer["Body"].close()
            raise FileTooLarge(key, size, max_bytes)
        metadata = {str(k).lower(): str(v) for k, v in (answer.get("Metadata") or {}).items()}
        return answer["Body"].read(), metadata

    def read_head(self, key: str, size: int, version_id: str | None = None) -> tuple[bytes, bool]:
        """The first ``size`` bytes of an object, and whether that is all of it."""
        answer = self._s3.get_object(
            Bucket=self.bucket, Key=key, Range=f"bytes=0-{size - 1}", **_version(version_id)
        )
        data: bytes = answer["Body"].read()
        total = str(answer.get("ContentRange", "")).rpartition("/")[2]
        return data, (int(total) <= size) if total.isdigit() else len(data) < size

    def metadata(self, key: str) -> dict[str, str] | None:
        """An object's user metadata (``x-amz-meta-*``), or None when there is no such object
        (for a key just listed: a role that may list only some prefixes gets 403 for a missing key)."""
        try:
            answer = self._s3.head_object(Bucket=self.bucket, Key=key)
        except self._s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        found: dict[str, str] = answer.get("Metadata", {})
        return found

    def exists(self, key: str, version_id: str | None = None) -> bool:
        """Whether the object (that version of it, when given) is there.

        A listing, not a HEAD: a role may list only its own prefixes, and S3 answers a HEAD of a
        missing key 403 (not 404) to a role that may not list the whole bucket."""
        if version_id is None:
            answer = self._s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
            return any(item["Key"] == key for item in answer.get("Contents", []))
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
            for item in page.get("Versions", []):
                if item["Key"] == key and item.get("VersionId") == version_id:
                    return True
        return False

    def put_json(self, key: str, document: Any) -> None:
        body = json.dumps(document, indent=2, default=str).encode()
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def delete_keys(self, keys: list[str]) -> None:
        """Deletes ``keys`` (a delete marker in a versioned bucket: earlier versions stay)."""
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self._s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True}
            )

    def presigned_get_url(self, key: str, ttl_seconds: int, version_id: str | None = None) -> str:
        url: str = self._s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key, **_version(version_id)},
            ExpiresIn=ttl_seconds,
        )
        return url

    def upload_file(self, key: str, body: IO[bytes], content_type: str) -> None:
        self._s3.upload_fileobj(body, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def upload_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        content_type: str,
        metadata: Callable[[], Mapping[str, str]] | None = None,
    ) -> int:
        """Writes the bytes of ``chunks`` to ``key`` as they come; returns how many there were.

        If ``chunks`` raises, nothing is written (a multipart upload under way is aborted) and the
        error goes on: the key keeps what it had, a half-copied image never appears. ``metadata``
        is asked for the object's user metadata when the upload begins (after the last chunk for
        a single PUT, after the first part for a multipart upload).
        """
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        size = 0
        part = _part_spool()
        try:
            for chunk in chunks:
                part.write(chunk)
                size += len(chunk)
                if part.tell() >= PART_BYTES:
                    if upload_id is None:
                        upload_id = self._s3.create_multipart_upload(
                            Bucket=self.bucket, Key=key, ContentType=content_type, **_meta(metadata)
                        )["UploadId"]
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, part))
                    part.close()
                    part = _part_spool()
            if upload_id is None:
                part.seek(0)
                self._s3.put_object(
                    Bucket=self.bucket, Key=key, Body=part, ContentType=content_type, **_meta(metadata)
                )
            else:
                if part.tell():
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, part))
                self._s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            if upload_id is not None:
                with contextlib.suppress(Exception):  # else the bucket's AbortIncompleteMultipartUpload rule
                    self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        finally:
            part.close()
        return size

    def _upload_part(self, key: str, upload_id: str, number: int, part: IO[bytes]) -> dict[str, Any]:
        part.seek(0)
        answer = self._s3.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}


def _version(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def _meta(metadata: Callable[[], Mapping[str, str]] | None) -> dict[str, Any]:
    return {"Metadata": dict(metadata())} if metadata is not None else {}


def _part_spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=PART_IN_MEMORY_BYTES)
