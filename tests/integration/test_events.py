"""The job's end event on EventBridge and its gallery page in the outbox, with moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from studio_core.aws.events import DETAIL_TYPE, SOURCE, JobEvents
from studio_core.aws.gallery import publish_gallery
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.record import JobRecord, RequestKind
from tests.support.aws import BUCKET, JOBS_TABLE, REGION
from tests.support.records import PREFIX, record

BUS = "studio-test-bus"


@pytest.fixture
def pim_queue(studio_aws: dict[str, str]) -> str:
    """A bus with the README's example rule: every job end, to an SQS queue (the store's PIM)."""
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name=BUS)
    url = sqs.create_queue(QueueName="pim")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": [SOURCE],
        "detail-type": [DETAIL_TYPE],
        "detail": {"status": ["SUCCEEDED", "PARTIAL"]},
    }
    events.put_rule(Name="to-pim", EventBusName=BUS, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="to-pim", EventBusName=BUS, Targets=[{"Id": "pim", "Arn": arn}])
    return url


def received(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_finished_job_puts_one_event_with_what_a_store_needs(pim_queue: str) -> None:
    # Given a job that ended PARTIAL, one image not copied
    job = record(
        status="PARTIAL", error="1 generated image(s) could not be copied", result_key=PREFIX + "result.json"
    )

    # When its end event is put
    assert JobEvents(BUS).job_finished(job, BUCKET)

    # Then the rule's queue gets it, with the documented source, detail-type and detail
    (event,) = received(pim_queue)
    assert event["source"] == "studio.pipeline"
    assert event["detail-type"] == "Studio Job Finished"
    detail = event["detail"]
    assert detail["product_id"] == "sku-1"
    assert detail["job_id"] == "sku-1-abc"
    assert detail["status"] == "PARTIAL"
    assert detail["reason"] == "1 generated image(s) could not be copied"
    assert detail["bucket"] == BUCKET
    assert detail["result_key"] == PREFIX + "result.json"
    assert detail["gallery_key"] == PREFIX + "index.html"
    assert len(detail["image_keys"]) == 4 and all(k.startswith(PREFIX) for k in detail["image_keys"])
    assert detail["images_missing"] == 1


def test_the_rule_sees_only_what_it_asked_for(pim_queue: str) -> None:
    # When a FAILED job's event is put, a rule for SUCCEEDED and PARTIAL does not deliver it
    assert JobEvents(BUS).job_finished(record(status="FAILED", error="InvalidJob: no images"), BUCKET)

    assert received(pim_queue) == []


def test_an_event_that_cannot_be_put_does_not_fail_the_job(studio_aws: dict[str, str]) -> None:
    # Given a bus that does not exist (deleted, or a wrong name)
    events = JobEvents("no-such-bus")

    # Then putting says False instead of raising, so the job's own end is never undone
    assert events.job_finished(record(), BUCKET) is False
    # And with no bus configured nothing is put at all
    assert JobEvents("").job_finished(record(), BUCKET) is False


def put(key: str, body: bytes = b"\xff\xd8photo") -> None:
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=body)


def keys(prefix: str) -> list[str]:
    answer = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in answer.get("Contents", []))


def test_the_gallery_page_and_input_copies_land_beside_the_outputs(studio_aws: dict[str, str]) -> None:
    # Given a job whose inputs are in the inbox
    for key in record().input_keys:
        put(key)
    storage, jobs = Storage(BUCKET), JobsTable(JOBS_TABLE)

    # When its gallery is published
    key = publish_gallery(storage, jobs, record())

    # Then index.html and copies of the inputs are in the job's folder
    assert key == PREFIX + "index.html"
    assert keys(PREFIX) == [
        PREFIX + "index.html",
        PREFIX + "inputs/back.jpg",
        PREFIX + "inputs/front photo.jpg",
    ]
    head = boto3.client("s3", region_name=REGION).head_object(Bucket=BUCKET, Key=key)
    assert head["ContentType"].startswith("text/html")
    page = storage.read_bytes(key).decode()
    assert 'src="inputs/back.jpg"' in page

    # And a second publish (the next round) copies nothing again, even once the inbox changed
    put("inbox/sku-1/back.jpg", b"a newer photo")
    publish_gallery(storage, jobs, record(status="SUCCEEDED"))
    assert storage.read_bytes(PREFIX + "inputs/back.jpg") == b"\xff\xd8photo"


def test_a_regeneration_job_shows_the_inputs_of_the_job_it_regenerates(studio_aws: dict[str, str]) -> None:
    # Given a base job whose gallery (and input copies) exist, then a newer photo in the inbox
    storage, jobs = Storage(BUCKET), JobsTable(JOBS_TABLE)
    base = record()
    for key in base.input_keys:
        put(key)
    publish_gallery(storage, jobs, base)
    put("inbox/sku-1/back.jpg", b"a newer photo")
    assert base.job is not None
    jobs.create_queued(
        job_id=base.job_id,
        product_id="sku-1",
        spec=base.job,
        request_kind=RequestKind.FOLDER,
        source_key="inbox/sku-1/product.json",
        execution_name=base.job_id,
        input_keys=base.input_keys,
    )

    # When a regeneration job of it publishes its page
    regeneration = JobRecord.model_validate(
        {
            **record().model_dump(mode="json"),
            "job_id": "sku-1-regen",
            "input_keys": [],
            "base_job_id": base.job_id,
        }
    )
    publish_gallery(storage, jobs, regeneration)

    # Then it shows copies of the base job's inputs, not the inbox's newer photo
    regen_prefix = "outbox/sku-1/sku-1-regen/"
    assert keys(regen_prefix + "inputs/") == [
        regen_prefix + "inputs/back.jpg",
        regen_prefix + "inputs/front photo.jpg",
    ]
    assert storage.read_bytes(regen_prefix + "inputs/back.jpg") == b"\xff\xd8photo"


def test_a_bucket_error_leaves_the_job_alone(studio_aws: dict[str, str]) -> None:
    # Given a storage whose bucket does not exist
    assert publish_gallery(Storage("no-such-bucket"), JobsTable(JOBS_TABLE), record()) is None
