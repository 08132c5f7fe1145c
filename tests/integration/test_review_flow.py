"""Review and publish on the local stack: the job waits in "Wait for review", decision files under
review/ answer it (through ingest, the task token and the state machine), a rejected on-figure
type is regenerated with the same model and a failed flat-lay kind retried as a new operation, the
approved images reach published/ labelled as AI-generated with the feed rewritten and an event
put; the same decision twice does nothing, a bad one is answered with the reason, auto publishes
what passed the checks, a cancel ends the wait, and a late approval of an ended job publishes."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from studio_cli.reviewing import decision_document, write_decision
from studio_cli.samples import product_photo
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.record import JobRecord, JobStatus
from studio_core.domain.xmp import DIGITAL_SOURCE_TYPE
from studio_local import LocalStudio
from studio_sim.settings import SimSettings

BASE_URL = "https://images.example.com"
PARAMETERS = {
    "PollFirstWaitOnlineSeconds": "1",
    "PollMinWaitSeconds": "1",
    "PollMaxWaitSeconds": "2",
    "AiutaRequestsPerSecond": "20",
    "AiutaRequestBurst": "5",
    "PublishedBaseUrl": BASE_URL,
}


@pytest.fixture(scope="module")
def studio() -> Iterator[LocalStudio]:
    stack = LocalStudio(
        stack_name="studio-review",
        parameter_overrides=PARAMETERS,
        sim_settings=SimSettings(operation_seconds=1),
        function_environment={"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"},
        batching_window_seconds=0,
    )
    with stack:
        yield stack


@pytest.fixture(scope="module")
def events(studio: LocalStudio) -> Callable[[], list[dict[str, Any]]]:
    """Every "Studio Images Published" event, through a rule to a queue (as a store would listen)."""
    sqs, bridge = studio.client("sqs"), studio.client("events")
    queue = sqs.create_queue(QueueName="published-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = studio.output("EventBusName")
    bridge.put_rule(
        Name="published",
        EventBusName=bus,
        EventPattern=json.dumps({"detail-type": ["Studio Images Published"]}),
    )
    bridge.put_targets(Rule="published", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    seen: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        while True:
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return seen
            for message in messages:
                seen.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    return read


def jobs(studio: LocalStudio) -> JobsTable:
    return JobsTable(studio.jobs_table, boto3.resource("dynamodb", **_connection(studio)))


def storage(studio: LocalStudio) -> Storage:
    return Storage(studio.bucket, studio.client("s3"))


def _connection(studio: LocalStudio) -> dict[str, str]:
    env = studio.environment()
    return {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "region_name": env["AWS_DEFAULT_REGION"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
    }


def submit(studio: LocalStudio, product_id: str, manifest: dict[str, Any]) -> None:
    s3 = studio.client("s3")
    s3.put_object(
        Bucket=studio.bucket, Key=f"inbox/{product_id}/front.jpg", Body=product_photo("tshirt", (200, 80, 60))
    )
    s3.put_object(
        Bucket=studio.bucket, Key=f"inbox/{product_id}/product.json", Body=json.dumps(manifest).encode()
    )


def job_of(studio: LocalStudio, product_id: str) -> JobRecord:
    found = [r for r in jobs(studio).for_product(product_id) if r.job is not None]
    assert found, f"no job of {product_id} yet"
    return found[-1]


def wait_for(
    studio: LocalStudio, product_id: str, check: Callable[[JobRecord], bool], what: str, timeout: float = 60
) -> JobRecord:
    deadline = time.monotonic() + timeout
    record: JobRecord | None = None
    while time.monotonic() < deadline:
        records = [r for r in jobs(studio).for_product(product_id) if r.job is not None]
        # A list carries a job's image counts; the job itself, read whole, its images.
        record = jobs(studio).get(records[-1].job_id) if records else None
        if record is not None and check(record):
            return record
        time.sleep(0.3)
    raise AssertionError(
        f"{product_id}: {what} did not happen in {timeout} s; last: {record and record.status}"
    )


def awaiting(round_: int) -> Callable[[JobRecord], bool]:
    return lambda r: (
        r.status is JobStatus.AWAITING_REVIEW and r.review_round == round_ and bool(r.review_token)
    )


def decide(studio: LocalStudio, record: JobRecord, **choices: Any) -> str:
    document = decision_document(
        record,
        approve=choices.get("approve", {}),
        reject=choices.get("reject", {}),
        retry=choices.get("retry", []),
        by="ana@store.example",
    )
    return write_decision(storage(studio), record, document).key


def creates(studio: LocalStudio) -> int:
    calls = studio.simulator_admin.calls()["calls"]
    paths = ("on_figure_operations", "flat_lay_operations", "on_figure_operations/regenerate")
    return sum(calls.get(f"POST /studio/v1/{path}", 0) for path in paths)


def read(studio: LocalStudio, key: str) -> bytes:
    return bytes(studio.client("s3").get_object(Bucket=studio.bucket, Key=key)["Body"].read())


def published_keys(studio: LocalStudio, product_id: str) -> list[str]:
    answer = studio.client("s3").list_objects_v2(Bucket=studio.bucket, Prefix=f"published/{product_id}/")
    return sorted(o["Key"] for o in answer.get("Contents", []))


def test_rejected_and_failed_types_are_made_again_then_the_approved_images_are_published(
    studio: LocalStudio, events: Callable[[], list[dict[str, Any]]]
) -> None:
    # Given a job that needs a person's review, whose first flat-lay operation fails
    creates_before = creates(studio)
    submit(
        studio,
        "rv-shirt",
        {
            "product": {"title": "Linen shirt", "description": "white [sim:flat_lay:FAILED:once]"},
            "kind": "both",
            "image_types": {
                "on_figure": ["front/standing", "back/walking"],
                "flat_lay": ["ghost_mannequin/front"],
            },
            "number_of_generations": 2,
            "review": "required",
        },
    )

    # When its images are copied, it waits for review: AWAITING_REVIEW with a token, round 0
    first = wait_for(studio, "rv-shirt", awaiting(0), "the first wait for review")
    assert first.quote is not None
    assert len([i for i in first.images if i.key]) == 4  # 2 types x 2; the flat-lay operation failed

    # And a decision approves front/standing #2, rejects back/walking and retries the flat-lay kind
    key = decide(
        studio,
        first,
        approve={"front/standing": [2]},
        reject={"back/walking": "hands cut off"},
        retry=["flat_lay"],
    )

    # Then a round makes them again (a regeneration with the same model, a new flat-lay operation)
    # and the job comes back to review with the new images beside the old
    second = wait_for(studio, "rv-shirt", awaiting(1), "the second wait for review")
    round_one = [op for op in second.operations if op.round == 1]
    assert sorted(op.kind.value for op in round_one) == ["flat_lay", "on_figure"]
    assert [i.image_type.label for i in second.images if i.round == 1 and i.key] == [
        "back/walking", "back/walking", "ghost_mannequin/front", "ghost_mannequin/front",
    ] or sorted(i.image_type.label for i in second.images if i.round == 1 and i.key) == [
        "back/walking", "back/walking", "ghost_mannequin/front", "ghost_mannequin/front",
    ]  # fmt: skip
    assert [(a.image_type.label, a.variant) for a in second.approved_images] == [("front/standing", 2)]
    [taken] = second.review_decisions
    assert (taken.by, taken.round, taken.quote.operations, taken.quote.images) == (
        "ana@store.example",
        0,
        2,
        4,
    )
    answer = json.loads(read(studio, f"{key}.done.json"))
    assert answer["quote"] == {"operations": 2, "images": 4}

    # When the second decision approves the new back/walking #3 and flat-lay #1
    decide(studio, second, approve={"back/walking": [3], "ghost_mannequin/front": [1]})

    # Then the job succeeds (the retried flat-lay counts) and exactly the approved images are published
    done = wait_for(studio, "rv-shirt", lambda r: r.status.is_terminal, "the end of the job")
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.review_state == "published"
    assert published_keys(studio, "rv-shirt") == [
        "published/rv-shirt/back-walking-1.png",
        "published/rv-shirt/front-standing-1.png",
        "published/rv-shirt/ghost_mannequin-front-1.png",
    ]
    # each labelled as made by a trained algorithm, and the same picture as the approved original
    front = read(studio, "published/rv-shirt/front-standing-1.png")
    assert DIGITAL_SOURCE_TYPE.encode() in front
    approved_key = next(a.key for a in done.approved_images if a.image_type.label == "front/standing")
    assert approved_key.endswith("front-standing-v2.png")
    # And the feed lists them with links from the base URL and their checksums
    feed = {
        row["key"]: row for row in csv.DictReader(io.StringIO(read(studio, "published/feed.csv").decode()))
    }
    assert {k for k in feed if k.startswith("published/rv-shirt/")} == set(published_keys(studio, "rv-shirt"))
    row = feed["published/rv-shirt/front-standing-1.png"]
    assert row["image_link"] == f"{BASE_URL}/published/rv-shirt/front-standing-1.png"
    assert row["checksum"] == next(p.checksum for p in done.published_images if p.key == row["key"])
    shopify = read(studio, "published/shopify.csv").decode()
    assert "rv-shirt,Linen shirt," in shopify
    # And creates at Aiuta are the job's quote plus the decision's
    assert creates(studio) - creates_before == done.quote.operations + taken.quote.operations  # type: ignore[union-attr]
    assert done.paid().operations == 2 + 2
    # And the store heard of it
    published = [e for e in events() if e["detail"]["job_id"] == done.job_id]
    assert published and set(published[-1]["detail"]["keys"]) == set(published_keys(studio, "rv-shirt"))


def test_the_same_decision_twice_is_one_and_a_bad_one_is_answered_while_the_job_waits(
    studio: LocalStudio,
) -> None:
    submit(studio, "rv-tee", {"kind": "on_figure", "image_types": ["front/standing"], "review": "required"})
    waiting = wait_for(studio, "rv-tee", awaiting(0), "the wait for review")

    # A decision naming an image that does not exist is refused with the reason; the job still waits
    bad = "review/rv-tee/" + waiting.job_id + "/bad.json"
    studio.client("s3").put_object(
        Bucket=studio.bucket, Key=bad, Body=json.dumps({"approve": {"front/standing": [7]}}).encode()
    )
    deadline = time.monotonic() + 30
    while not storage(studio).exists(f"{bad}.error.json"):
        assert time.monotonic() < deadline, "no error report for the bad decision"
        time.sleep(0.3)
    report = json.loads(read(studio, f"{bad}.error.json"))
    assert "front/standing has no image #7 to approve (it has #1)" in report["error"]
    assert "still waits for a decision" in report["error"]
    assert jobs(studio).get(waiting.job_id).status is JobStatus.AWAITING_REVIEW  # type: ignore[union-attr]

    # The same good decision written twice (two files) is one decision
    body = json.dumps({"approve": {"front/standing": [1]}}).encode()
    for name in ("one", "two"):
        studio.client("s3").put_object(
            Bucket=studio.bucket, Key=f"review/rv-tee/{waiting.job_id}/{name}.json", Body=body
        )
    done = wait_for(studio, "rv-tee", lambda r: r.status.is_terminal, "the end of the job")
    studio.wait_until_idle()
    assert done.status is JobStatus.SUCCEEDED
    assert len(jobs(studio).get(done.job_id).review_decisions) == 1  # type: ignore[union-attr]
    assert published_keys(studio, "rv-tee") == ["published/rv-tee/front-standing-1.png"]


def test_auto_review_publishes_what_passed_the_checks_without_waiting(studio: LocalStudio) -> None:
    submit(
        studio,
        "rv-auto",
        {
            "kind": "on_figure",
            "image_types": ["front/standing"],
            "number_of_generations": 2,
            "review": "auto",
        },
    )
    done = wait_for(studio, "rv-auto", lambda r: r.status.is_terminal, "the end of the job")

    assert done.status is JobStatus.SUCCEEDED
    [automatic] = done.review_decisions
    assert automatic.automatic and automatic.approve == {"front/standing": [1, 2]}
    assert published_keys(studio, "rv-auto") == [
        "published/rv-auto/front-standing-1.png",
        "published/rv-auto/front-standing-2.png",
    ]


def test_a_cancel_ends_the_wait_for_review(studio: LocalStudio) -> None:
    submit(
        studio, "rv-cancel", {"kind": "on_figure", "image_types": ["front/standing"], "review": "required"}
    )
    waiting = wait_for(studio, "rv-cancel", awaiting(0), "the wait for review")

    studio.client("s3").put_object(
        Bucket=studio.bucket,
        Key="cancel/rv-cancel.json",
        Body=json.dumps({"job_id": waiting.job_id}).encode(),
    )

    done = wait_for(studio, "rv-cancel", lambda r: r.status.is_terminal, "the end of the job")
    assert done.status is JobStatus.CANCELLED
    assert "cancelled by" in (done.error or "")
    assert published_keys(studio, "rv-cancel") == []


def test_a_late_approval_of_an_ended_job_publishes_at_once(studio: LocalStudio) -> None:
    # Given a job without review that has ended
    submit(studio, "rv-late", {"kind": "on_figure", "image_types": ["front/standing"]})
    ended = wait_for(studio, "rv-late", lambda r: r.status.is_terminal, "the end of the job")
    assert ended.status is JobStatus.SUCCEEDED and published_keys(studio, "rv-late") == []

    # When a decision approves its image
    key = decide(studio, ended, approve={"front/standing": [1]})

    # Then it is published, and the decision is on the record; ingest answers beside the decision
    # (`.done.json`) after it has published, so that answer is what to wait for
    deadline = time.monotonic() + 30
    while not (published_keys(studio, "rv-late") and storage(studio).exists(f"{key}.done.json")):
        assert time.monotonic() < deadline, "the late approval published nothing, or never answered"
        time.sleep(0.3)
    record = jobs(studio).get(ended.job_id)
    assert record is not None and record.status is JobStatus.SUCCEEDED
    assert [d.late for d in record.review_decisions] == [True]
    assert json.loads(read(studio, f"{key}.done.json"))["published"] == [
        "published/rv-late/front-standing-1.png"
    ]
