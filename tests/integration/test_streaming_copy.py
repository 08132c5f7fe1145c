"""Finalize's copy of one image: streamed from its link into S3 in one pass, checked on the way.

Against the moto server and a small image host that can serve good, broken and cut-off files.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from PIL import Image

from studio_core.aiuta.answers import AiutaImage
from studio_core.aws import storage as storage_module
from studio_core.aws.downloads import DownloadFailed, DownloadLimits
from studio_core.aws.storage import Storage
from studio_core.domain.vocabulary import Kind, on_figure_type
from studio_core.steps.finalize import CopyOrder, copy_one
from tests.support.aws import BUCKET, REGION

pytestmark = pytest.mark.usefixtures("pipeline_aws")


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


GOOD = png()
FILES = {
    "/good.png": (GOOD, len(GOOD)),
    "/corrupt.png": (GOOD[:100] + bytes(b ^ 0x55 for b in GOOD[100:200]) + GOOD[200:], len(GOOD)),
    # The connection closes before Content-Length bytes have come: a failed download, not a file.
    "/cut-off.png": (GOOD[: len(GOOD) // 2], len(GOOD)),
}


class _Host(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in FILES:
            self.send_error(410, "expired")
            return
        body, length = FILES[path]
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# The host is on 127.0.0.1, which only the local stack's setting lets a copy reach.
LOCAL = DownloadLimits(allow_loopback=True)


def order(url: str, key: str = "outbox/p/j/on_figure/front-standing-v1.png") -> CopyOrder:
    image = AiutaImage(id="gen-1", url=url + "?signature=secret")
    return CopyOrder(Kind.ON_FIGURE, on_figure_type("front/standing"), 1, image, key, 0)


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def stored(key: str) -> bytes | None:
    try:
        return s3().get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except s3().exceptions.NoSuchKey:
        return None


def test_a_good_image_is_copied_byte_for_byte_with_its_size(host: str) -> None:
    record = copy_one(order(f"{host}/good.png"), Storage(BUCKET), limits=LOCAL)

    assert (record.width, record.height, record.error) == (64, 48, None)
    assert stored(record.key or "") == GOOD
    assert s3().head_object(Bucket=BUCKET, Key=record.key)["ContentType"] == "image/png"


def test_a_corrupt_image_is_named_and_not_stored(host: str) -> None:
    record = copy_one(order(f"{host}/corrupt.png"), Storage(BUCKET), limits=LOCAL)

    assert (record.error or "").startswith("not a decodable image: the PNG image data is corrupt")
    assert (record.error or "").endswith("nothing was stored")
    assert record.key is None
    assert stored("outbox/p/j/on_figure/front-standing-v1.png") is None


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/cut-off.png", "closed before the whole file had arrived while fetching"), ("/gone.png", "HTTP 410")],
)
def test_a_failed_download_writes_nothing_and_keeps_the_signature_out(
    host: str, path: str, reason: str
) -> None:
    record = copy_one(order(f"{host}{path}"), Storage(BUCKET), limits=LOCAL)

    assert record.key is None
    assert (record.error or "").startswith("could not download:") and reason in (record.error or "")
    assert "secret" not in (record.error or "")
    assert stored("outbox/p/j/on_figure/front-standing-v1.png") is None


def test_a_large_stream_goes_up_in_parts_and_arrives_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given parts of 5 MiB (S3's smallest) and 12 MiB arriving in uneven chunks
    monkeypatch.setattr(storage_module, "PART_BYTES", 5 * 1024 * 1024)
    data = bytes(range(256)) * (12 * 4096)
    chunks = (data[i : i + 300_001] for i in range(0, len(data), 300_001))

    size = Storage(BUCKET).upload_stream("outbox/big.png", chunks, "image/png")

    assert size == len(data)
    assert stored("outbox/big.png") == data
    assert "-3" in s3().head_object(Bucket=BUCKET, Key="outbox/big.png")["ETag"]  # three parts


def test_a_stream_that_breaks_midway_leaves_no_object_and_no_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_module, "PART_BYTES", 5 * 1024 * 1024)

    def breaking() -> Iterator[bytes]:
        for _ in range(7):
            yield b"x" * (1024 * 1024)
        raise DownloadFailed("connection reset")

    with pytest.raises(DownloadFailed):
        Storage(BUCKET).upload_stream("outbox/broken.png", breaking(), "image/png")

    assert stored("outbox/broken.png") is None
    assert s3().list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
