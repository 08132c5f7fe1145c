"""Turning a SAM template's local paths (``CodeUri``, ``ContentUri``, ``DefinitionUri``) into S3 locations.

This is ``sam package`` for the local stack: each directory is zipped (each ASL file uploaded
as is) into a deployment bucket in moto, and the template points at it. The S3 location is also
how the rest of the package finds the local directory again after samtranslator renamed
resources (a layer ``CommonLayer`` becomes ``CommonLayer1a2b3c4d5e``).
"""

from __future__ import annotations

import copy
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Which property of which SAM type holds a local path, and whether that path is a directory.
LOCAL_PATH_PROPERTIES: Mapping[str, tuple[str, bool]] = {
    "AWS::Serverless::Function": ("CodeUri", True),
    "AWS::Serverless::LayerVersion": ("ContentUri", True),
    "AWS::Serverless::StateMachine": ("DefinitionUri", False),
}
SKIPPED_NAMES = {"__pycache__", ".pytest_cache", ".mypy_cache", ".DS_Store"}


class PackagingError(ValueError):
    """A local path in the template that does not exist or is of the wrong kind."""


@dataclass(frozen=True)
class Artifact:
    """One local directory or file of the template, uploaded to ``s3://bucket/key``."""

    logical_id: str
    property: str
    local_path: Path
    bucket: str
    key: str

    @property
    def location(self) -> dict[str, str]:
        return {"Bucket": self.bucket, "Key": self.key}


def is_local_uri(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


def local_paths(template: Mapping[str, Any], base_dir: Path) -> Iterator[tuple[str, str, Path, bool]]:
    """``(logical_id, property, path, is_directory)`` for every local path the template names.

    A function without ``CodeUri`` takes ``Globals.Function.CodeUri``, as SAM does.
    """
    global_code_uri = ((template.get("Globals") or {}).get("Function") or {}).get("CodeUri")
    for logical_id, resource in (template.get("Resources") or {}).items():
        kind = resource.get("Type")
        if kind not in LOCAL_PATH_PROPERTIES:
            continue
        prop, is_directory = LOCAL_PATH_PROPERTIES[kind]
        properties = resource.get("Properties") or {}
        value = properties.get(prop, global_code_uri if prop == "CodeUri" else None)
        if is_local_uri(value):
            yield logical_id, prop, (base_dir / value).resolve(), is_directory


def zip_directory(directory: Path) -> bytes:
    """A deterministic zip of ``directory`` (same files, same bytes), without caches."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory)
            if any(part in SKIPPED_NAMES for part in relative.parts) or path.suffix == ".pyc":
                continue
            if path.is_file():
                info = zipfile.ZipInfo(relative.as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def package_template(
    template: Mapping[str, Any],
    base_dir: Path,
    bucket: str,
    upload: Callable[[str, bytes], None],
) -> tuple[dict[str, Any], list[Artifact]]:
    """A copy of ``template`` whose local paths are S3 locations, and the artifacts uploaded.

    ``upload(key, body)`` stores one object in ``bucket``.
    """
    packaged = copy.deepcopy(dict(template))
    artifacts: list[Artifact] = []
    for logical_id, prop, path, is_directory in local_paths(template, base_dir):
        if is_directory and not path.is_dir():
            raise PackagingError(f"{logical_id}.{prop} points at {path}, which is not a directory")
        if not is_directory and not path.is_file():
            raise PackagingError(f"{logical_id}.{prop} points at {path}, which is not a file")
        body = zip_directory(path) if is_directory else path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:16]
        key = f"{logical_id}/{digest}{'.zip' if is_directory else path.suffix}"
        upload(key, body)
        artifact = Artifact(logical_id, prop, path, bucket, key)
        packaged["Resources"][logical_id].setdefault("Properties", {})[prop] = artifact.location
        artifacts.append(artifact)
    global_function = (packaged.get("Globals") or {}).get("Function") or {}
    if is_local_uri(global_function.get("CodeUri")):
        # Every function now has its own S3 CodeUri; the local one would confuse samtranslator.
        del global_function["CodeUri"]
    return packaged, artifacts


def artifact_for_location(artifacts: list[Artifact], location: Mapping[str, Any] | None) -> Artifact | None:
    """The artifact uploaded to ``location`` (``{"S3Bucket", "S3Key"}`` or ``{"Bucket", "Key"}``), if any."""
    if not location:
        return None
    bucket = location.get("S3Bucket", location.get("Bucket"))
    key = location.get("S3Key", location.get("Key"))
    return next((a for a in artifacts if a.bucket == bucket and a.key == key), None)
