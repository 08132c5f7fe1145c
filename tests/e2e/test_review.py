"""Review and publish as a store owner does it: a 3-row catalogue with `review: required` on the
local stack (`studio local up`), the review page (`studio review`) in a real browser (Playwright
driving Debian's chromium: never a browser download), its keyboard shortcuts.

One job is approved as it is; another has an on-figure type rejected (a regeneration round runs,
its new image appears on the page and is approved); the third, whose first flat-lay operation
fails, has its flat-lay kind retried. At the end published/ holds exactly the approved images,
each labelled as AI-generated (XMP), the feed lists them, and the operations created at Aiuta are
the catalogue's quote plus the decisions' quotes. Screenshots: tests/artifacts/review.png (and
docs/review.png, the README's, when REVIEW_SCREENSHOT_FOR_DOCS=1).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from studio_cli.samples import product_photo
from studio_core.aws.jobs_table import JobsTable
from studio_core.domain.record import JobRecord, JobStatus
from studio_core.domain.xmp import DIGITAL_SOURCE_TYPE
from tests.support.cli_stack import QUICK, STUDIO, RunningStack, local_stack

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DOCS = Path(__file__).resolve().parents[2] / "docs"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
BASE_URL = "https://images.example.com"
CATALOGUE = "inbox/review-week.csv"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        message = (
            f"{CHROMIUM} is missing: `make browser` installs Debian's chromium (apt-get install chromium)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev extra: make install")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    parameters = {
        **QUICK,
        "AiutaRequestsPerSecond": "20",
        "AiutaRequestBurst": "5",
        "PublishedBaseUrl": BASE_URL,
        # The catalogue's photo links are presigned URLs of the local S3 on 127.0.0.1.
        "AllowPrivateImageUrls": "true",
    }
    with local_stack(tmp_path_factory.mktemp("review"), parameters=parameters) as running:
        yield running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def review_page(stack: RunningStack) -> Iterator[str]:
    """`studio review --port N` as a user runs it; yields the URL it prints."""
    process = subprocess.Popen(  # noqa: S603 - our own command line
        [*STUDIO, "review", "--port", str(free_port()), "--by", "ana@store.example"],
        env=stack.env,
        cwd=stack.directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert found, f"studio review printed {line!r}"
    try:
        yield found.group(0)
    finally:
        process.terminate()
        process.wait(timeout=10)


def jobs(stack: RunningStack) -> JobsTable:
    env = stack.env
    resource = boto3.resource(
        "dynamodb",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    return JobsTable(env["STUDIO_TABLE"], resource)


def record_of(stack: RunningStack, product_id: str) -> JobRecord | None:
    found = [r for r in jobs(stack).for_product(product_id) if r.job is not None]
    return found[-1] if found else None


def wait_until(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen in {timeout} s")


def hosted_photo(stack: RunningStack, name: str, colour: tuple[int, int, int]) -> str:
    s3 = stack.client("s3")
    key = f"hosted/{name}.jpg"
    s3.put_object(Bucket=stack.env["STUDIO_BUCKET"], Key=key, Body=product_photo("tshirt", colour))
    url: str = s3.generate_presigned_url(
        "get_object", Params={"Bucket": stack.env["STUDIO_BUCKET"], "Key": key}, ExpiresIn=3600
    )
    return url


def simulator_creates(stack: RunningStack) -> int:
    admin = stack.env["AIUTA_API_URL"].removesuffix("/studio/v1") + "/_sim/calls"
    calls = requests.get(admin, timeout=10).json()["calls"]
    paths = ("on_figure_operations", "flat_lay_operations", "on_figure_operations/regenerate")
    return sum(calls.get(f"POST /studio/v1/{path}", 0) for path in paths)


def decide_on(page: Any, url: str, job_id: str, keys: list[str]) -> None:
    """Opens the job's page and types ``keys`` (the page's shortcuts), then Enter sends the decision."""
    page.goto(f"{url}job/{job_id}")
    page.wait_for_selector("section.type")
    for key in keys:
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-decision]", timeout=15_000)


def test_a_store_reviews_a_catalogue_in_the_browser_and_publishes_what_it_approved(
    stack: RunningStack, review_page: str, browser: Any
) -> None:
    bucket = stack.env["STUDIO_BUCKET"]
    s3 = stack.client("s3")
    creates_before = simulator_creates(stack)
    links = {
        name: hosted_photo(stack, name, colour)
        for name, colour in (("a", (200, 70, 60)), ("b", (40, 110, 190)), ("c", (60, 150, 90)))
    }
    # Given a catalogue of three products that need a person's review; the third's first flat-lay fails
    rows = [
        "id,title,description,image_urls,kind,on_figure_image_types,flat_lay_image_types,review",
        f"rv-coat,Wool coat,camel,{links['a']},both,front/standing,ghost_mannequin/front,required",
        f"rv-dress,Linen dress,blue,{links['b']},on_figure,front/standing;back/walking,,required",
        f"rv-shirt,Oxford shirt,green [sim:flat_lay:FAILED:once],{links['c']},both,front/standing,"
        "ghost_mannequin/front,required",
    ]
    s3.put_object(Bucket=bucket, Key=CATALOGUE, Body="\n".join(rows).encode())

    # When each job's images are copied, it waits for review
    products = ("rv-coat", "rv-dress", "rv-shirt")

    def all_waiting() -> dict[str, JobRecord] | None:
        records = {p: record_of(stack, p) for p in products}
        if all(
            r is not None and r.status is JobStatus.AWAITING_REVIEW and r.review_token
            for r in records.values()
        ):
            return records  # type: ignore[return-value]
        return None

    waiting: dict[str, JobRecord] = wait_until(all_waiting, "three jobs awaiting review")
    checked = json.loads(s3.get_object(Bucket=bucket, Key=f"{CATALOGUE}.report/checked.json")["Body"].read())

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # Then the review page lists the three, and the catalogue's overview shows every row
    page.goto(review_page)
    assert page.locator("a.card").count() == 3
    assert page.get_attribute("body", "data-awaiting") == "3"
    page.goto(f"{review_page}catalogue?key={CATALOGUE}")
    assert page.get_attribute("body", "data-rows") == "3"
    assert page.get_attribute("body", "data-awaiting-review") == "3"
    assert page.locator(".thumb img").count() == 3

    # When the coat is approved as it is: pick #1 and approve, for each of its two types
    decide_on(page, review_page, waiting["rv-coat"].job_id, ["1", "a", "1", "a"])

    # And the dress's back/walking is rejected with the first reason of the list
    decide_on(page, review_page, waiting["rv-dress"].job_id, ["1", "a", "r", "1"])
    # Then a regeneration round runs and its new image appears on the page beside the old one
    page.wait_for_selector('body[data-round="1"]', timeout=60_000)
    back = page.locator('section.type[data-type="back/walking"]')
    assert back.locator("figure.tile").count() == 2
    assert back.locator("figure.tile .badge").count() == 1  # the new one
    assert "hands or fingers wrong" in back.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.keyboard.press("j")  # focus back/walking
    page.keyboard.press("2")  # pick the new image
    page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
    if os.environ.get("REVIEW_SCREENSHOT_FOR_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copy(ARTIFACTS / "review.png", DOCS / "review.png")
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-decision]", timeout=15_000)

    # And the shirt's failed flat-lay kind is retried (t), then its new image approved
    decide_on(page, review_page, waiting["rv-shirt"].job_id, ["1", "a", "t"])
    page.wait_for_selector('body[data-round="1"]', timeout=60_000)
    flat = page.locator('section.type[data-type="ghost_mannequin/front"]')
    assert flat.locator("figure.tile").count() == 1
    for key in ("j", "1", "a", "Enter"):
        page.keyboard.press(key)
    page.wait_for_selector("body[data-decision]", timeout=15_000)

    # Then every job ends SUCCEEDED and published
    def all_published() -> dict[str, JobRecord] | None:
        records = {p: record_of(stack, p) for p in products}
        if all(r is not None and r.status.is_terminal for r in records.values()):
            return records  # type: ignore[return-value]
        return None

    ended: dict[str, JobRecord] = wait_until(all_published, "the three jobs' end")
    assert {p: (r.status.value, r.review_state) for p, r in ended.items()} == {
        p: ("SUCCEEDED", "published") for p in products
    }
    # And published/ holds exactly the approved images, each labelled as AI-generated
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="published/").get("Contents", [])
    images = sorted(
        o["Key"] for o in listed if not o["Key"].startswith("published/feed") and "/" in o["Key"][10:]
    )
    assert images == [
        "published/rv-coat/front-standing-1.png",
        "published/rv-coat/ghost_mannequin-front-1.png",
        "published/rv-dress/back-walking-1.png",
        "published/rv-dress/front-standing-1.png",
        "published/rv-shirt/front-standing-1.png",
        "published/rv-shirt/ghost_mannequin-front-1.png",
    ]
    for key in images:
        assert DIGITAL_SOURCE_TYPE.encode() in s3.get_object(Bucket=bucket, Key=key)["Body"].read(), key
    # the dress's back/walking is the regenerated image (round 1), not the rejected one
    dress = ended["rv-dress"]
    assert [
        (a.image_type.label, a.round) for a in dress.approved_images if a.image_type.label == "back/walking"
    ] == [("back/walking", 1)]
    # And the feed lists exactly them, with links from the base URL
    feed = s3.get_object(Bucket=bucket, Key="published/feed.csv")["Body"].read().decode()
    rows_by_key = {row["key"]: row for row in csv.DictReader(io.StringIO(feed))}
    assert sorted(rows_by_key) == images
    assert all(row["image_link"] == f"{BASE_URL}/{key}" for key, row in rows_by_key.items())
    # And the operations created at Aiuta are the catalogue's quote plus the decisions' quotes
    decisions = sum(d.quote.operations for r in ended.values() for d in r.review_decisions)
    assert decisions == 2  # the dress's regeneration round and the shirt's new flat-lay operation
    assert simulator_creates(stack) - creates_before == checked["quote"]["operations"] + decisions
    assert sum(r.paid().operations for r in ended.values()) == checked["quote"]["operations"] + decisions
    # And the catalogue run, once its jobs ended, left its overview page beside its report
    report_key = f"{CATALOGUE}.report/report.json"
    wait_until(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=report_key).get("KeyCount"), "the report")
    overview_key = f"{CATALOGUE}.report/{checked['run_name']}/index.html"
    overview = s3.get_object(Bucket=bucket, Key=overview_key)["Body"].read().decode()
    assert 'data-rows="3"' in overview and overview.count('data-status="SUCCEEDED"') == 3
    assert overview.count("published</td>") == 3
    assert '<img src="../../../outbox/rv-coat/' in overview


def test_a_decision_from_the_command_line_and_watch_says_a_job_awaits_review(
    stack: RunningStack, tmp_path: Path
) -> None:
    from studio_cli.samples import SampleProduct

    # Given a product that needs review, submitted and followed
    manifest = {"kind": "on_figure", "image_types": ["front/standing"], "review": "required"}
    folder = SampleProduct("rv-scarf", "tshirt", (180, 160, 40), photos=1, manifest=manifest).write(tmp_path)
    [submitted] = json.loads(stack.studio("submit", str(folder), "--json").out)
    [job_id] = submitted["job_ids"]

    # When it is watched, watch stops once the job waits for a person, and says how to decide
    watched = stack.studio("watch", job_id, "--timeout", "90", expect=3)
    assert f"decide: studio review {job_id}" in watched.out
    assert "awaiting review" in watched.out
    detail = stack.studio("status", job_id).out
    assert "required: waiting for a decision on round 0" in detail
    assert f"studio review {job_id} --approve TYPE:N" in detail

    # And a decision without a reason is a usage error that shows how to write one
    refused = stack.studio("review", job_id, "--reject", "front/standing", expect=2)
    assert 'e.g. --reject back/walking:"hands cut off"' in refused.err

    # When the image is approved from the command line
    decided = stack.studio("review", job_id, "--approve", "front/standing:1")
    assert f"decision for {job_id} written" in decided.out
    assert "approved 1 image(s) of 1 type(s)" in decided.out

    # Then the job ends and its image is published
    stack.studio("watch", job_id, "--timeout", "90")
    status = json.loads(stack.studio("status", job_id, "--json").out)
    assert status["status"] == "SUCCEEDED"
    assert (
        "1 image(s) published: published/rv-scarf/front-standing-1.png" in stack.studio("status", job_id).out
    )
    listed = stack.client("s3").list_objects_v2(
        Bucket=stack.env["STUDIO_BUCKET"], Prefix="published/rv-scarf/"
    )
    assert [o["Key"] for o in listed.get("Contents", [])] == ["published/rv-scarf/front-standing-1.png"]
