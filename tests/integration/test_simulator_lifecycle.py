"""Operations over sim time: progression, forced outcomes, input downloads, generated pictures, expiry.

The sim clock is frozen in these tests, so only ``advance()`` moves operations forward.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from PIL import Image, ImageChops

from studio_cli.samples import product_photo
from tests.support.simulator import (
    FLAT_LAY,
    ON_FIGURE,
    create,
    flat_lay_body,
    on_figure_body,
    status_of,
    upload,
)

PHOTO = product_photo("dress", (200, 40, 60))


@pytest.fixture
def frozen_sim(studio_sim: Any) -> Any:
    studio_sim.admin.configure(clock_frozen=True, operation_seconds=10, paused_seconds=30)
    return studio_sim


class _ImageHost(BaseHTTPRequestHandler):
    """A tiny web server for input images: /photo.jpg works, /forbidden is 403, /garbage is not an image."""

    def do_GET(self) -> None:
        routes = {
            "/photo.jpg": (200, PHOTO, "image/jpeg"),
            "/forbidden": (403, b"<Error>AccessDenied</Error>", "application/xml"),
            "/garbage": (200, b"this is not a picture", "image/jpeg"),
        }
        status, body, content_type = routes.get(self.path.split("?")[0], (404, b"", "text/plain"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def image_host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ImageHost)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fetch_picture(url: str) -> Image.Image:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    picture = Image.open(io.BytesIO(response.content))
    picture.load()
    return picture


def test_an_operation_moves_created_in_progress_success_on_the_sim_clock(
    sim_http: requests.Session, frozen_sim: Any
) -> None:
    operation_id = create(sim_http, ON_FIGURE, on_figure_body(upload(sim_http)["id"]))
    seen = [status_of(sim_http, ON_FIGURE, operation_id)["status"]]
    for step in (2, 5, 3):
        frozen_sim.admin.advance(step)
        seen.append(status_of(sim_http, ON_FIGURE, operation_id)["status"])

    assert seen == ["CREATED", "IN_PROGRESS", "IN_PROGRESS", "SUCCESS"]
    result = status_of(sim_http, ON_FIGURE, operation_id)["generation_result"]
    assert [item["image_type"] for item in result] == [
        {"viewpoint": "front", "pose": "standing"},
        {"viewpoint": "back", "pose": "walking"},
    ]
    assert all(len(item["generated_images"]) == 2 for item in result)
    ids = [image["id"] for item in result for image in item["generated_images"]]
    assert all(image_id.startswith("gen_image-") for image_id in ids)
    assert len(set(ids)) == 4


def test_generated_images_are_stable_across_reads(sim_http: requests.Session, frozen_sim: Any) -> None:
    operation_id = create(sim_http, FLAT_LAY, flat_lay_body(upload(sim_http)["id"]))
    frozen_sim.admin.advance(60)

    first = status_of(sim_http, FLAT_LAY, operation_id)["generation_result"]
    assert status_of(sim_http, FLAT_LAY, operation_id)["generation_result"] == first


@pytest.mark.parametrize(
    ("outcome", "error_part"),
    [("FAILED", "simulated failure"), ("CANCELLED", "cancelled"), ("ABORTED", "aborted")],
)
def test_a_forced_outcome_ends_new_operations_that_way(
    sim_http: requests.Session, frozen_sim: Any, outcome: str, error_part: str
) -> None:
    frozen_sim.admin.configure(forced_outcome=outcome)
    operation_id = create(sim_http, FLAT_LAY, flat_lay_body(upload(sim_http)["id"]))
    frozen_sim.admin.advance(5)
    assert status_of(sim_http, FLAT_LAY, operation_id)["status"] == "IN_PROGRESS"

    frozen_sim.admin.advance(60)
    operation = status_of(sim_http, FLAT_LAY, operation_id)

    assert operation["status"] == outcome
    assert error_part in operation["error"]
    assert operation["generation_result"] is None


def test_the_failure_text_is_configurable(sim_http: requests.Session, frozen_sim: Any) -> None:
    frozen_sim.admin.configure(forced_outcome="FAILED", failure_error="NSFW content detected")
    operation_id = create(sim_http, FLAT_LAY, flat_lay_body(upload(sim_http)["id"]))
    frozen_sim.admin.advance(60)

    assert status_of(sim_http, FLAT_LAY, operation_id)["error"] == "NSFW content detected"


def test_a_paused_operation_pauses_then_succeeds(sim_http: requests.Session, frozen_sim: Any) -> None:
    frozen_sim.admin.configure(forced_outcome="PAUSED")
    operation_id = create(sim_http, ON_FIGURE, on_figure_body(upload(sim_http)["id"]))
    seen = []
    for step in (6, 20, 10, 10):
        frozen_sim.admin.advance(step)
        seen.append(status_of(sim_http, ON_FIGURE, operation_id)["status"])

    assert seen == ["PAUSED", "PAUSED", "IN_PROGRESS", "SUCCESS"]


@pytest.mark.parametrize(
    ("token", "final"),
    [("[sim:FAILED]", "FAILED"), ("[sim:CANCELLED]", "CANCELLED"), ("[sim:ABORTED]", "ABORTED")],
)
def test_a_token_in_the_description_forces_that_products_outcome(
    sim_http: requests.Session, frozen_sim: Any, token: str, final: str
) -> None:
    image_id = upload(sim_http)["id"]
    doomed = create(
        sim_http,
        FLAT_LAY,
        flat_lay_body(image_id, product_info={"uploaded_image_ids": [image_id], "description": token}),
    )
    fine = create(sim_http, FLAT_LAY, flat_lay_body(image_id))
    frozen_sim.admin.advance(3600)

    assert status_of(sim_http, FLAT_LAY, doomed)["status"] == final
    assert status_of(sim_http, FLAT_LAY, fine)["status"] == "SUCCESS"


def test_a_product_that_never_finishes(sim_http: requests.Session, frozen_sim: Any) -> None:
    image_id = upload(sim_http)["id"]
    body = on_figure_body(image_id)
    body["product_info"]["description"] = "demo [sim:NEVER_FINISHES]"
    operation_id = create(sim_http, ON_FIGURE, body)
    frozen_sim.admin.advance(10 * 24 * 3600)

    assert status_of(sim_http, ON_FIGURE, operation_id)["status"] == "IN_PROGRESS"


def test_a_token_survives_regeneration(sim_http: requests.Session, frozen_sim: Any) -> None:
    body = on_figure_body(upload(sim_http)["id"])
    body["product_info"]["description"] = "[sim:PAUSED]"
    original = create(sim_http, ON_FIGURE, body)
    regenerated = create(
        sim_http,
        f"{ON_FIGURE}/regenerate",
        {"original_operation_id": original, "image_types": [{"viewpoint": "side", "pose": "standing"}]},
    )
    frozen_sim.admin.advance(6)

    assert status_of(sim_http, ON_FIGURE, regenerated)["status"] == "PAUSED"


class TestInputUrls:
    def test_image_urls_are_downloaded_and_served_internally(
        self, sim_http: requests.Session, frozen_sim: Any, image_host: str
    ) -> None:
        urls = [f"{image_host}/photo.jpg?X-Amz-Signature=secret", f"{image_host}/photo.jpg"]
        operation_id = create(sim_http, FLAT_LAY, flat_lay_body("", product_info={"image_urls": urls}))
        frozen_sim.admin.advance(60)

        operation = status_of(sim_http, FLAT_LAY, operation_id)

        assert operation["status"] == "SUCCESS"
        internal = operation["product_info"]["image_urls"]
        assert len(internal) == 2
        assert all(url.startswith(frozen_sim.root_url + "/files/inputs/") for url in internal)
        assert requests.get(internal[0], timeout=10).content == PHOTO

    def test_a_refused_download_fails_the_operation_with_a_readable_error(
        self, sim_http: requests.Session, frozen_sim: Any, image_host: str
    ) -> None:
        urls = [
            f"{image_host}/photo.jpg",
            f"{image_host}/forbidden?X-Amz-Signature=secret",
            f"{image_host}/photo.jpg",
        ]
        operation_id = create(sim_http, FLAT_LAY, flat_lay_body("", product_info={"image_urls": urls}))
        assert status_of(sim_http, FLAT_LAY, operation_id)["status"] == "CREATED"
        frozen_sim.admin.advance(60)

        operation = status_of(sim_http, FLAT_LAY, operation_id)

        assert operation["status"] == "FAILED"
        assert operation["error"].startswith("could not download input image 2 of 3")
        assert "HTTP 403" in operation["error"]
        assert "secret" not in operation["error"]
        assert operation["product_info"]["image_urls"] == []

    def test_bytes_that_are_not_an_image_fail_the_operation(
        self, sim_http: requests.Session, frozen_sim: Any, image_host: str
    ) -> None:
        operation_id = create(
            sim_http, FLAT_LAY, flat_lay_body("", product_info={"image_urls": [f"{image_host}/garbage"]})
        )
        frozen_sim.admin.advance(60)

        error = status_of(sim_http, FLAT_LAY, operation_id)["error"]
        assert "input image 1 of 1" in error
        assert "not a decodable image" in error

    def test_an_unreachable_host_fails_the_operation(
        self, sim_http: requests.Session, frozen_sim: Any
    ) -> None:
        operation_id = create(
            sim_http,
            FLAT_LAY,
            flat_lay_body("", product_info={"image_urls": ["http://127.0.0.1:9/photo.jpg"]}),
        )
        frozen_sim.admin.advance(60)

        assert "connection failed" in status_of(sim_http, FLAT_LAY, operation_id)["error"]

    def test_the_simulators_own_links_can_be_inputs(
        self, sim_http: requests.Session, frozen_sim: Any
    ) -> None:
        image = upload(sim_http)
        operation_id = create(
            sim_http, FLAT_LAY, flat_lay_body("", product_info={"image_urls": [image["url"]]})
        )
        frozen_sim.admin.advance(60)

        assert status_of(sim_http, FLAT_LAY, operation_id)["status"] == "SUCCESS"


class TestGeneratedPictures:
    def result_urls(
        self, http: requests.Session, sim: Any, path: str, body: dict[str, Any]
    ) -> list[list[str]]:
        operation_id = create(http, path, body)
        sim.admin.advance(3600)
        result = status_of(http, path, operation_id)["generation_result"]
        return [[image["url"] for image in item["generated_images"]] for item in result]

    def test_they_decode_at_the_requested_size(self, sim_http: requests.Session, frozen_sim: Any) -> None:
        body = on_figure_body(upload(sim_http, PHOTO)["id"], output_image_size={"width": 200, "height": 260})
        urls = self.result_urls(sim_http, frozen_sim, ON_FIGURE, body)

        for url in [url for row in urls for url in row]:
            picture = fetch_picture(url)
            assert picture.format == "PNG"
            assert picture.size == (200, 260)

    def test_without_a_size_they_use_the_default(self, sim_http: requests.Session, frozen_sim: Any) -> None:
        frozen_sim.admin.configure(default_output_width=96, default_output_height=128)
        body = flat_lay_body(upload(sim_http)["id"])
        del body["output_image_size"]

        [[url]] = self.result_urls(sim_http, frozen_sim, FLAT_LAY, body)

        assert fetch_picture(url).size == (96, 128)

    def test_a_transparent_background_has_alpha(self, sim_http: requests.Session, frozen_sim: Any) -> None:
        body = flat_lay_body(upload(sim_http)["id"], background_settings={"background_type": "transparent"})
        [[url]] = self.result_urls(sim_http, frozen_sim, FLAT_LAY, body)

        picture = fetch_picture(url)

        assert picture.mode == "RGBA"
        assert picture.getpixel((0, 0))[3] == 0
        assert picture.getchannel("A").getextrema() == (0, 255)

    def test_variants_differ(self, sim_http: requests.Session, frozen_sim: Any) -> None:
        body = flat_lay_body(upload(sim_http)["id"], number_of_generations=3)
        [urls] = self.result_urls(sim_http, frozen_sim, FLAT_LAY, body)
        pictures = [fetch_picture(url).convert("RGB") for url in urls]

        for first, second in ((0, 1), (1, 2), (0, 2)):
            assert ImageChops.difference(pictures[first], pictures[second]).getbbox() is not None

    def test_an_impossible_size_fails_the_operation(
        self, sim_http: requests.Session, frozen_sim: Any
    ) -> None:
        body = flat_lay_body(
            upload(sim_http)["id"], output_image_paddings={"top": 90, "bottom": 90, "left": 0, "right": 0}
        )
        operation_id = create(sim_http, FLAT_LAY, body)
        frozen_sim.admin.advance(60)

        operation = status_of(sim_http, FLAT_LAY, operation_id)
        assert operation["status"] == "FAILED"
        assert "no room" in operation["error"]


class TestExpiry:
    def test_generated_links_expire_on_the_sim_clock(
        self, sim_http: requests.Session, frozen_sim: Any
    ) -> None:
        frozen_sim.admin.configure(image_ttl_seconds=600)
        operation_id = create(sim_http, FLAT_LAY, flat_lay_body(upload(sim_http)["id"]))
        frozen_sim.admin.advance(60)
        image = status_of(sim_http, FLAT_LAY, operation_id)["generation_result"][0]["generated_images"][0]
        assert requests.get(image["url"], timeout=10).status_code == 200

        frozen_sim.admin.advance(601)

        gone = requests.get(image["url"], timeout=10)
        assert gone.status_code == 410
        assert "expired" in gone.json()["detail"]

    def test_uploaded_links_expire_too(self, sim_http: requests.Session, frozen_sim: Any) -> None:
        frozen_sim.admin.configure(image_ttl_seconds=60)
        image = upload(sim_http)
        frozen_sim.admin.advance(61)

        assert requests.get(image["url"], timeout=10).status_code == 410

    def test_a_deleted_generated_image_is_404(self, sim_http: requests.Session, frozen_sim: Any) -> None:
        operation_id = create(sim_http, FLAT_LAY, flat_lay_body(upload(sim_http)["id"]))
        frozen_sim.admin.advance(60)
        image = status_of(sim_http, FLAT_LAY, operation_id)["generation_result"][0]["generated_images"][0]

        assert sim_http.delete(f"/generated_images/{image['id']}").status_code == 204
        assert requests.get(image["url"], timeout=10).status_code == 404
        assert sim_http.delete(f"/generated_images/{image['id']}").status_code == 404
