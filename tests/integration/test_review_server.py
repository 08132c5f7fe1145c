"""The review page's server (`studio review`): it answers only requests addressed to it on
127.0.0.1, writes a decision only with the page's own token, checks the decision before writing it,
and serves nothing of the bucket but the images the pages show (moto stands in for AWS)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from studio_cli.review_server import ReviewSite, start_server
from studio_cli.stack import Stack
from studio_core.domain.jobs import JobDefaults, build_job
from studio_core.domain.record import ImageRecord, JobRecord, JobStatus
from studio_core.domain.state import OperationRef
from studio_core.domain.vocabulary import Kind, image_type_from_label
from tests.support.aws import BUCKET, REGION

JOB = "sku-1-0123456789abcdef"
KEY = f"outbox/sku-1/{JOB}/on_figure/front-standing-v1.png"


@pytest.fixture
def site(studio_aws: dict[str, str]) -> Iterator[tuple[str, ReviewSite]]:
    from studio_cli.samples import product_photo
    from studio_core.aws.jobs_table import JobsTable

    # A job waiting for review, with one image in the bucket
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=BUCKET, Key=KEY, Body=product_photo("tshirt", (1, 2, 3))
    )
    spec = build_job("sku-1", {"review": "required"}, image_count=1, defaults=JobDefaults())
    jobs = JobsTable(studio_aws["JOBS_TABLE"])
    jobs.create_queued(
        job_id=JOB,
        product_id="sku-1",
        spec=spec,
        request_kind=_folder(),
        source_key="inbox/sku-1/front.jpg",
        execution_name=JOB,
    )
    image = ImageRecord(
        kind=Kind.ON_FIGURE, image_type=image_type_from_label("front/standing"), variant=1, key=KEY,
        aiuta_image_id="img-1", source_url="https://cdn.example/1.png",
    )  # fmt: skip
    jobs.record_round(
        JOB,
        images=[image],
        rounds=[],
        result_key="r",
        operations=[
            OperationRef(
                kind=Kind.ON_FIGURE, operation_id="op-1", image_types=["front/standing"], status="SUCCESS"
            )
        ],
    )
    jobs.await_review(JOB, token="token-1", round_=0, deadline_at="2026-12-14T10:00:00+00:00")
    review = ReviewSite(Stack(bucket=BUCKET, table=studio_aws["JOBS_TABLE"]), "ana@store.example")
    server = start_server(review, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", review
    finally:
        server.shutdown()
        server.server_close()


def _folder() -> Any:
    from studio_core.domain.record import RequestKind

    return RequestKind.FOLDER


def test_the_page_lists_the_job_and_serves_its_own_assets(site: tuple[str, ReviewSite]) -> None:
    url, _ = site
    home = requests.get(url + "/", timeout=10)
    assert (
        home.status_code == 200 and f'data-job-id="{JOB}"' in home.text and 'data-awaiting="1"' in home.text
    )
    page = requests.get(f"{url}/job/{JOB}", timeout=10)
    assert 'src="/assets/review.js"' in page.text and "https://" not in page.text.split("<body", 1)[0]
    assert (
        requests.get(url + "/assets/review.js", timeout=10)
        .headers["Content-Type"]
        .startswith("text/javascript")
    )
    thumb = requests.get(f"{url}/image", params={"key": KEY, "w": "120"}, timeout=10)
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] in ("image/jpeg", "image/png")


def test_only_requests_addressed_to_it_with_the_pages_token_write_a_decision(
    site: tuple[str, ReviewSite],
) -> None:
    url, review = site
    decision = {"approve": {"front/standing": [1]}, "round": 0}

    # Another host name (a DNS rebinding page) is refused
    assert requests.get(url + "/", headers={"Host": "evil.example"}, timeout=10).status_code == 403
    # A post without the page's token is refused, and writes nothing
    refused = requests.post(f"{url}/api/job/{JOB}/decision", json=decision, timeout=10)
    assert refused.status_code == 403
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="review/").get("KeyCount") == 0

    # A decision that cannot apply is answered with the reason, and writes nothing
    headers = {"X-Review-Token": review.csrf}
    wrong = requests.post(
        f"{url}/api/job/{JOB}/decision",
        json={"approve": {"front/standing": [4]}},
        headers=headers,
        timeout=10,
    )
    assert wrong.status_code == 409 and "has no image #4" in wrong.json()["error"]

    # The page's own decision is written as a file under review/, by the operator
    written = requests.post(f"{url}/api/job/{JOB}/decision", json=decision, headers=headers, timeout=10)
    assert written.status_code == 200
    key = written.json()["key"]
    assert key.startswith(f"review/sku-1/{JOB}/") and written.json()["quote"] == {
        "operations": 0,
        "images": 0,
    }
    document = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert document["approve"] == {"front/standing": [1]} and document["by"] == "ana@store.example"


@pytest.mark.parametrize("key", ["review/sku-1/x.json", "outbox/../cancel/x.json", "template.yaml"])
def test_nothing_but_the_pages_images_is_served_from_the_bucket(
    site: tuple[str, ReviewSite], key: str
) -> None:
    url, _ = site
    assert requests.get(f"{url}/image", params={"key": key}, timeout=10).status_code == 404


def test_a_job_that_does_not_await_review_is_refused_with_the_reason(
    site: tuple[str, ReviewSite], studio_aws: dict[str, str]
) -> None:
    from studio_core.aws.jobs_table import JobsTable

    url, review = site
    JobsTable(studio_aws["JOBS_TABLE"]).mark_regenerating(JOB, round_=1, operations=[])
    answer = requests.post(
        f"{url}/api/job/{JOB}/decision",
        json={"approve": {"front/standing": [1]}},
        headers={"X-Review-Token": review.csrf},
        timeout=10,
    )
    assert answer.status_code == 409
    assert (
        f"job {JOB} is {JobStatus.REGENERATING.value}: it does not wait for a review decision yet"
        in answer.json()["error"]
    )
    assert JobRecord  # the record model is what the site reads
