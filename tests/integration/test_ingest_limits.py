"""Ingest under ordinary abuse: many files in one folder, and files far larger than a store needs.

Each case goes through the ingest Lambda's code against moto, as an upload would, and must end in
one clear rejection (or one pending check), never in reading a huge file or flooding the queue.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from studio_cli.samples import product_photo
from studio_core import clients
from studio_core.aws.executions import Executions, IngestQueue
from studio_core.aws.storage import Storage
from studio_core.domain.jobs import JobDefaults
from studio_core.domain.limits import MAX_CATALOGUE_BYTES, MAX_PHOTO_BYTES
from studio_core.steps.ingest import Ingest, handle_body
from tests.support.aws import BUCKET, REGION, product_records

pytestmark = pytest.mark.usefixtures("pipeline_aws")


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def put(key: str, body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    answer = s3().put_object(Bucket=BUCKET, Key=key, Body=body)
    return {
        "key": key,
        "eTag": answer["ETag"].strip('"'),
        "versionId": answer["VersionId"],
        "size": len(body),
    }


def event(*objects: dict[str, Any]) -> str:
    records = [
        {"eventName": "ObjectCreated:Put", "s3": {"object": {**o, "key": quote_plus(o["key"])}}}
        for o in objects
    ]
    return json.dumps({"Records": records})


def context(clock: datetime | None = None) -> Ingest:
    import os

    return Ingest(
        storage=clients.storage(),
        jobs=clients.jobs_table(),
        executions=Executions(os.environ["STATE_MACHINE_ARN"]),
        queue=IngestQueue(os.environ["INGEST_QUEUE_URL"]),
        defaults=JobDefaults(),
        quiet_seconds=30,
        catalogues=Executions(os.environ["CATALOGUE_STATE_MACHINE_ARN"]),
        clock=(lambda: clock) if clock else (lambda: datetime.now(UTC)),
    )


def delayed_messages() -> int:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName="studio-test-ingest")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"])


def executions() -> int:
    import os

    sfn = boto3.client("stepfunctions", region_name=REGION)
    return len(sfn.list_executions(stateMachineArn=os.environ["STATE_MACHINE_ARN"])["executions"])


def report(key: str) -> dict[str, Any]:
    return dict(json.loads(s3().get_object(Bucket=BUCKET, Key=key)["Body"].read()))


def test_many_photos_in_one_folder_are_one_pending_check_and_other_products_do_not_wait() -> None:
    # Given 300 tiny files dropped into one folder, each with its event (the CI size of 2,000)
    ctx = context()
    photo = product_photo("dress", (40, 90, 160))
    objects = [put(f"inbox/flood/p{i:04d}.jpg", photo) for i in range(300)]

    # When their events arrive, ten to a batch as the queue delivers them
    outcomes = [
        outcome
        for start in range(0, 300, 10)
        for outcome in handle_body(ctx, event(*objects[start : start + 10]))
    ]

    # Then they scheduled one settle check between them, not 300 listings of the folder
    assert set(outcomes) == {"waiting"}
    assert delayed_messages() == 1

    # And another product's product.json, arriving meanwhile, starts at once
    other = [
        put(f"inbox/calm/{n}.jpg", product_photo("tshirt", (90, 40, 160), angle=i))
        for i, n in enumerate("ab")
    ]
    assert handle_body(ctx, event(put("inbox/calm/product.json", {}))) == ["started"]
    assert other and executions() == 1

    # And when the folder's check comes, it refuses the folder in words, having listed only what it needs
    later = context(datetime.now(UTC) + timedelta(minutes=5))
    assert handle_body(later, json.dumps({"settle_check": {"product_id": "flood"}})) == ["rejected"]
    [refused] = product_records("flood")
    assert "the folder holds more than 100 files" in refused["error"]


def test_a_photo_larger_than_accepted_is_refused_without_being_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a folder whose second photo is a valid JPEG padded past the 25 MiB accepted
    put("inbox/padded/a.jpg", product_photo("dress", (40, 90, 160)))
    put("inbox/padded/b.jpg", product_photo("dress", (40, 90, 160), angle=1) + b"\0" * MAX_PHOTO_BYTES)
    read: list[str] = []
    original = Storage.read_object

    def spy(self: Storage, key: str, *args: Any, **kwargs: Any) -> Any:
        read.append(key)
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(Storage, "read_object", spy)

    # When product.json arrives
    outcome = handle_body(context(), event(put("inbox/padded/product.json", {})))

    # Then the folder is refused, saying which photo and its size, and that photo was never read
    assert outcome == ["rejected"]
    [refused] = product_records("padded")
    assert "b.jpg is 25.0 MiB, more than the 25 MiB accepted (a photo's size, not read)" in refused["error"]
    assert "inbox/padded/b.jpg" not in read and executions() == 0


def test_a_job_file_or_request_larger_than_accepted_is_refused_with_its_size() -> None:
    ctx = context()
    put("inbox/fat/a.jpg", product_photo("dress", (40, 90, 160)))
    fat = {"product": {"title": "t"}, "padding": "x" * 300_000}
    assert handle_body(ctx, event(put("inbox/fat/product.json", fat))) == ["rejected"]
    [refused] = product_records("fat")
    assert "product.json is 293 KiB, more than the 256 KiB accepted" in refused["error"]

    request = put("regenerate/fat/r1.json", {"image_types": ["back/walking"], "note": "x" * 70_000})
    assert handle_body(ctx, event(request)) == ["rejected"]
    assert "is 68 KiB, more than the 64 KiB accepted" in report("regenerate/fat/r1.json.error.json")["error"]


@pytest.mark.slow
def test_a_catalogue_larger_than_accepted_is_refused_at_ingest() -> None:
    body = "id,image_urls\n" + "x" * (MAX_CATALOGUE_BYTES + 1)
    assert handle_body(context(), event(put("inbox/huge.csv", body))) == ["rejected"]
    assert (
        "more than the 50 MiB accepted: split it into several files"
        in report("inbox/huge.csv.error.json")["error"]
    )
