"""A job's gallery page, opened in headless Chromium: from a downloaded folder and from the bucket.

The job makes both kinds, two image types, two generations and a regeneration round, so the
page has every grouping. Chromium is Debian's package (`make test` installs it with apt-get;
no browser is downloaded). The page's own script marks each image loaded or not; the test reads
that from `--dump-dom`, and keeps a screenshot at tests/artifacts/gallery.png.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from studio_cli.samples import SampleProduct
from tests.support.cli_stack import RunningStack, local_stack

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SCREENSHOT = ARTIFACTS / "gallery.png"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        message = (
            f"{CHROMIUM} is missing: `make browser` installs Debian's chromium (apt-get install chromium)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def run_chromium(chromium: Path, *args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(  # noqa: S603 - Debian's chromium, our own flags
            [str(chromium), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def loaded_page(chromium: Path, url: str) -> str:
    """The page's DOM once it has loaded (its script has marked every image by then)."""
    return run_chromium(chromium, "--virtual-time-budget=10000", "--dump-dom", url)


def image_marks(dom: str) -> tuple[list[tuple[str, str]], int, int]:
    images = re.findall(r'<img src="([^"]+)"[^>]*data-loaded="(yes|no)"', dom)
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    total = re.search(r'data-images-total="(\d+)"', dom)
    assert loaded and total, "the page's script did not run"
    return images, int(loaded.group(1)), int(total.group(1))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with local_stack(tmp_path_factory.mktemp("gallery")) as running:
        yield running


@pytest.fixture(scope="module")
def job(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    manifest = {
        "product": {"title": "Linen shirt", "category": "Apparel & Accessories > Clothing"},
        "kind": ["on_figure", "flat_lay"],
        "number_of_generations": 2,
        "image_types": {
            "on_figure": ["front/standing", "side/walking"],
            "flat_lay": ["ghost_mannequin/front"],
        },
        "output_image_size": {"width": 300, "height": 400},
        "background_settings": {"background_type": "reference_color", "reference_color": "#e8e4dc"},
        "regeneration": {"rounds": [{"image_types": ["back/walking"], "number_of_generations": 1}]},
    }
    folder = SampleProduct("gallery-shirt", "tshirt", (214, 206, 190), photos=2, manifest=manifest)
    [submitted] = json.loads(
        stack.studio("submit", str(folder.write(tmp_path_factory.mktemp("in"))), "--json").out
    )
    [job_id] = submitted["job_ids"]
    stack.studio("watch", job_id, "--timeout", "120")
    return json.loads(stack.studio("status", job_id, "--json").out)  # type: ignore[no-any-return]


def test_every_image_of_a_downloaded_gallery_loads(
    stack: RunningStack, job: dict[str, Any], chromium: Path, tmp_path: Path
) -> None:
    # Given the job's folder, downloaded as a user downloads it
    stack.studio("results", job["job_id"], "--download", str(tmp_path))
    page = tmp_path / job["job_id"] / "index.html"

    # When Chromium opens its gallery from disk
    dom = loaded_page(chromium, page.as_uri())

    # Then every picture on it loaded: the 2 inputs, 2 types x 2 on-figure, 1 x 2 flat-lay, 1 regenerated
    images, loaded, total = image_marks(dom)
    assert total == 2 + 4 + 2 + 1 == len(images)
    assert loaded == total, [src for src, ok in images if ok != "yes"]
    sources = [src for src, _ in images]
    assert sources[:2] == ["inputs/photo-1.jpg", "inputs/photo-2.jpg"]
    assert "on_figure/back-walking-v1-r1.png" in sources
    # And it says what the job was: status, settings, operation ids, grouped by kind, type and round
    assert 'data-status="SUCCEEDED"' in dom
    for op in job["operations"]:
        assert op["operation_id"] in dom
    assert dom.index('id="on_figure"') < dom.index("<h3>side/walking</h3>") < dom.index('id="flat_lay"')
    assert "#e8e4dc" in dom and "round 1" in dom

    # And a screenshot is kept as the test's artefact
    ARTIFACTS.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    run_chromium(
        chromium,
        f"--screenshot={SCREENSHOT}",
        "--window-size=1400,1800",
        "--virtual-time-budget=10000",
        page.as_uri(),
    )
    assert SCREENSHOT.stat().st_size > 10_000
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@contextmanager
def serve_bucket(s3: Any, bucket: str) -> Iterator[str]:
    """The bucket over plain HTTP, each GET read with the stack's credentials: what CloudFront
    with origin access control does in front of the (private) bucket on AWS."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            key = unquote(self.path.split("?", 1)[0].lstrip("/"))
            try:
                stored = s3.get_object(Bucket=bucket, Key=key)
            except s3.exceptions.NoSuchKey:
                self.send_error(404)
                return
            body = stored["Body"].read()
            self.send_response(200)
            self.send_header("Content-Type", stored.get("ContentType") or "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_same_page_works_served_from_the_bucket(
    stack: RunningStack, job: dict[str, Any], chromium: Path
) -> None:
    # Given the bucket served over HTTP (on AWS: CloudFront with origin access control)
    with serve_bucket(stack.client("s3"), stack.env["STUDIO_BUCKET"]) as host:
        # When Chromium opens the job's page there
        dom = loaded_page(chromium, f"{host}/{job['gallery_key']}")

    # Then its relative links found every image beside it in the bucket
    images, loaded, total = image_marks(dom)
    assert total == 9 and loaded == total, [src for src, ok in images if ok != "yes"]
