"""The gallery page of a job: inputs beside outputs, grouped, relative links, the request and status."""

from __future__ import annotations

import re

from studio_core.domain.gallery import (
    GalleryInput,
    gallery_inputs,
    gallery_key,
    input_copy_key,
    render_gallery,
)
from studio_core.domain.record import JobRecord
from tests.support.records import PREFIX, record


def sources(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def test_every_link_is_relative_to_the_job_folder() -> None:
    # Given a finished job with copies of its inputs
    job = record()
    page = render_gallery(job, gallery_inputs(job, job.input_keys))

    # Then inputs and outputs are linked inside the job's folder, never by bucket or absolute path
    assert sources(page) == [
        "inputs/front%20photo.jpg",
        "inputs/back.jpg",
        "on_figure/front-standing-v1.png",
        "on_figure/front-standing-v2.png",
        "on_figure/back-walking-v1-r1.png",
        "flat_lay/ghost_mannequin-front-v1.png",
    ]
    assert "outbox/" not in page.replace(PREFIX, "")
    assert gallery_key("sku-1", "sku-1-abc") == PREFIX + "index.html"
    assert input_copy_key("sku-1", "sku-1-abc", "inbox/sku-1/back.jpg") == PREFIX + "inputs/back.jpg"


def test_images_are_grouped_by_kind_then_image_type_then_round() -> None:
    page = render_gallery(record())

    # Then the on-figure section comes first, each type in a row of its own, rounds in order
    on_figure = page.index('id="on_figure"')
    flat_lay = page.index('id="flat_lay"')
    assert on_figure < page.index("<h3>front/standing</h3>") < page.index("<h3>back/walking</h3>") < flat_lay
    assert page.index("front-standing-v2.png") < page.index("back-walking-v1-r1.png")
    assert "round 1" in page and "first round" in page


def test_the_page_shows_status_request_settings_operations_and_findings() -> None:
    page = render_gallery(record(status="PARTIAL", error="1 generated image(s) could not be copied"))

    assert 'data-status="PARTIAL"' in page and ">PARTIAL</span>" in page
    assert "1 generated image(s) could not be copied" in page
    for operation_id in ("op-on-1", "op-flat-1", "op-on-2"):
        assert operation_id in page
    assert "number_of_generations" in page and "on_figure_model_settings" in page
    assert "ghost_mannequin/front: 1 of 2 images arrived" in page
    # And the image that was never copied is listed with its reason, not shown as a broken picture
    assert "the link had expired" in page
    assert "ghost_mannequin-front-v2.png" not in page


def test_text_from_the_job_is_escaped() -> None:
    page = render_gallery(record())

    assert "Linen &lt;shirt&gt;" in page
    assert "<shirt>" not in page


def test_inputs_hosted_elsewhere_are_linked_where_they_are() -> None:
    job = record(
        input_keys=[], job={"kind": ["on_figure"], "image_urls": ["https://cdn.example/a.jpg?sig=1"]}
    )

    inputs = gallery_inputs(job, [])

    assert inputs == [GalleryInput("a.jpg", "https://cdn.example/a.jpg?sig=1")]


def test_a_job_rejected_before_it_had_a_request_still_has_a_page() -> None:
    job = JobRecord.model_validate(
        {
            "job_id": "bad-1",
            "product_id": "bad",
            "status": "FAILED",
            "created_at": "2026-12-01T10:00:00+00:00",
            "updated_at": "2026-12-01T10:00:00+00:00",
            "error": "product 'bad': the job is invalid: unknown key 'number_of_generatons'",
        }
    )

    page = render_gallery(job)

    assert "unknown key &#x27;number_of_generatons&#x27;" in page
    assert "the job never had a valid request" in page
    assert sources(page) == []
