"""Downloading ``product_info.image_urls`` the way Aiuta does: for real, over HTTP, at creation."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from studio_sim.images import NotAnImage, inspect_image

MAX_DOWNLOAD_BYTES = 30 * 1024 * 1024


@dataclass(frozen=True)
class FetchedImage:
    data: bytes
    extension: str
    content_type: str


class FetchFailed(Exception):
    """An input image could not be used; the message is the operation's ``error``."""


def fetch_images(urls: list[str], timeout: float) -> list[FetchedImage]:
    """Every URL downloaded and decoded, in order; the first failure stops the lot."""
    fetched = []
    with requests.Session() as session:
        for position, url in enumerate(urls, start=1):
            where = f"input image {position} of {len(urls)} ({_where(url)})"
            try:
                data = _download(session, url, timeout)
            except FetchFailed as exc:
                raise FetchFailed(f"could not download {where}: {exc}") from None
            try:
                decoded = inspect_image(data)
            except NotAnImage as exc:
                raise FetchFailed(f"could not use {where}: {exc}") from None
            fetched.append(FetchedImage(data, decoded.extension, decoded.content_type))
    return fetched


def _download(session: requests.Session, url: str, timeout: float) -> bytes:
    try:
        with session.get(url, timeout=timeout, stream=True) as response:
            if response.status_code != 200:
                raise FetchFailed(f"HTTP {response.status_code} {response.reason or ''}".strip())
            chunks, size = [], 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise FetchFailed(f"larger than {MAX_DOWNLOAD_BYTES // (1024 * 1024)} MB")
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.exceptions.Timeout:
        raise FetchFailed(f"no answer within {timeout:g} s") from None
    except requests.exceptions.RequestException as exc:
        raise FetchFailed(f"connection failed ({type(exc).__name__})") from None


def _where(url: str) -> str:
    # The query of a presigned URL is a credential: never repeat it in an error.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
