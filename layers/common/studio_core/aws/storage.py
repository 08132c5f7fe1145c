"""S3 access for the studio bucket: read inputs, presign them, stream generated images in."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import boto3
import requests

# Generated images are a few MB; past this they spill from memory to /tmp while being checked.
SPOOL_IN_MEMORY_BYTES = 16 * 1024 * 1024
DOWNLOAD_TIMEOUT = (3.05, 60.0)


@dataclass(frozen=True)
class StoredObject:
    key: str
    etag: str
    size: int
    last_modified: datetime


class DownloadFailed(Exception):
    """A generated image could not be fetched from its (possibly expired) URL."""


class Storage:
    """The one bucket the product uses: ``inbox/``, ``outbox/`` and ``regenerate/``."""

    def __init__(self, bucket: str, s3_client: Any | None = None) -> None:
        self.bucket = bucket
        self._s3 = s3_client or boto3.client("s3")

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

    def read_bytes(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except self._s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put_json(self, key: str, document: Any) -> None:
        body = json.dumps(document, indent=2, default=str).encode()
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def presigned_get_url(self, key: str, ttl_seconds: int) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl_seconds
        )

    def upload_file(self, key: str, body: IO[bytes], content_type: str) -> None:
        self._s3.upload_fileobj(body, self.bucket, key, ExtraArgs={"ContentType": content_type})


def download_to_spool(url: str, session: requests.Session | None = None) -> tuple[IO[bytes], str]:
    """Stream ``url`` into a spooled temporary file; returns it rewound, with its content type."""
    http = session or requests
    try:
        with http.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT) as response:
            if response.status_code != 200:
                raise DownloadFailed(f"HTTP {response.status_code} from {_without_query(url)}")
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115 - returned open
            for chunk in response.iter_content(chunk_size=256 * 1024):
                spool.write(chunk)
            content_type = response.headers.get("Content-Type", "application/octet-stream")
    except requests.RequestException as exc:
        raise DownloadFailed(f"{type(exc).__name__} while fetching {_without_query(url)}") from None
    spool.seek(0)
    return spool, content_type


def _without_query(url: str) -> str:
    # Presigned or signed URLs carry credentials in the query string: keep them out of messages.
    return url.split("?", 1)[0]
