"""The ingest Lambda: S3 events through SQS become jobs and executions, bad input a clear FAILED job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from studio_cli.samples import product_photo
from studio_core.steps.ingest import Ingest, SettleCheck, handle_body
from tests.support.aws import BUCKET, CATALOGUE_STATE_MACHINE_NAME, REGION, job_record, product_records
from tests.support.ingest import executions, finished_job, ingest, put, s3, s3_message
from tests.support.lambdas import load_handler

pytestmark = pytest.mark.usefixtures("pipeline_aws")


def queued_messages() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName="studio-test-ingest")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return [attributes]


def photos(product_id: str, count: int = 2) -> list[str]:
    return [
        put(f"inbox/{product_id}/photo {i + 1}.jpg", product_photo("dress", (40, 90, 160), angle=i))
        for i in range(count)
    ]


def test_a_product_json_starts_one_execution_with_the_validated_job() -> None:
    # Given two photos (one with a space in its name) and a product.json
    photos("sku-7")
    put(
        "inbox/sku-7/product.json",
        {"kind": "both", "number_of_generations": 2, "product": {"title": "Dress"}},
    )

    # When S3's event for product.json arrives
    answer = ingest(s3_message("inbox/sku-7/product.json"))

    # Then one execution runs for the job, and the job is QUEUED in DynamoDB
    assert answer == {"batchItemFailures": []}
    [execution] = executions()
    job = execution["input"]
    assert job["product_id"] == "sku-7"
    assert job["input_keys"] == ["inbox/sku-7/photo 1.jpg", "inbox/sku-7/photo 2.jpg"]
    assert job["job"]["kind"] == ["on_figure", "flat_lay"] and job["job"]["number_of_generations"] == 2
    assert execution["name"] == job["job_id"]
    assert job_record(job["job_id"])["status"] == "QUEUED"


def test_duplicate_deliveries_start_one_execution() -> None:
    photos("sku-8")
    put("inbox/sku-8/product.json", {})
    message = s3_message("inbox/sku-8/product.json")
    ingest(message, message)
    ingest(message)
    assert len(executions()) == 1
    assert len(product_records("sku-8")) == 1


def test_s3_test_event_is_skipped() -> None:
    answer = ingest(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}))
    assert answer == {"batchItemFailures": []}
    assert executions() == []


def test_photos_without_a_manifest_wait_for_the_folder_to_settle() -> None:
    # Given photos arriving without a product.json
    photos("sku-9")

    # When their event arrives, then nothing starts yet: a delayed settle check is queued
    ingest(s3_message("inbox/sku-9/photo 1.jpg"))
    assert executions() == []
    attributes = queued_messages()[0]
    assert int(attributes["ApproximateNumberOfMessagesDelayed"]) == 1

    # When the settle check runs after the quiet period, then the folder becomes one job
    later = Ingest(
        **{**vars(load_handler("ingest").INGEST), "clock": lambda: datetime.now(UTC) + timedelta(minutes=5)}
    )
    handle_body(later, json.dumps({"settle_check": SettleCheck(product_id="sku-9").model_dump()}))
    [execution] = executions()
    assert execution["input"]["job"]["kind"] == ["on_figure"]  # the template's default


def test_a_settle_check_during_uploads_looks_again_later() -> None:
    photos("sku-10")
    ingest(json.dumps({"settle_check": {"product_id": "sku-10"}}))
    assert executions() == []
    assert int(queued_messages()[0]["ApproximateNumberOfMessagesDelayed"]) == 1


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (
            '{"kind": "on_figure",}',
            "not valid JSON: Expecting property name enclosed in double quotes at line 1",
        ),
        ({"numbr_of_generations": 2}, "unknown key 'numbr_of_generations'"),
        ({"image_types": [{"viewpoint": "side", "pose": "dancing"}]}, "pose: 'dancing' is not one of"),
        ({"number_of_generations": 9}, "number_of_generations: Input should be less than or equal to 4"),
        (
            {"background_settings": {"background_type": "reference_color"}},
            "needs a reference_color",
        ),
    ],
)
def test_a_broken_product_json_fails_the_job_with_a_readable_report(manifest: Any, expected: str) -> None:
    # Given photos and a product.json with a mistake
    photos("sku-11")
    put("inbox/sku-11/product.json", manifest)

    # When its event arrives
    answer = ingest(s3_message("inbox/sku-11/product.json"))

    # Then the message is consumed (no retry loop), nothing runs, and the job is FAILED with the reason
    assert answer == {"batchItemFailures": []}
    assert executions() == []
    [record] = product_records("sku-11")
    assert record["status"] == "FAILED"
    assert expected in record["error"]
    # And an error report sits next to the input, without triggering anything itself
    report = json.loads(s3().get_object(Bucket=BUCKET, Key="inbox/sku-11/_error.json")["Body"].read())
    assert expected in report["error"]
    ingest(s3_message("inbox/sku-11/_error.json"))
    assert len(product_records("sku-11")) == 1


def test_too_many_images_is_rejected_before_any_aiuta_call(studio_sim: Any) -> None:
    photos("sku-12", count=21)
    put("inbox/sku-12/product.json", {})
    ingest(s3_message("inbox/sku-12/product.json"))
    [record] = product_records("sku-12")
    assert "21 images, but Aiuta takes at most 20" in record["error"]
    assert studio_sim.admin.calls()["total"] == 0


def test_an_unreadable_image_fails_the_job_naming_the_file() -> None:
    photos("sku-13", count=1)
    put("inbox/sku-13/broken.jpg", b"this is not a picture")
    put("inbox/sku-13/product.json", {})
    ingest(s3_message("inbox/sku-13/product.json"))
    [record] = product_records("sku-13")
    assert record["status"] == "FAILED"
    assert "broken.jpg is not a JPEG, PNG or WebP image (it is text)" in record["error"]


def test_a_product_json_with_image_urls_needs_no_photos() -> None:
    put("inbox/sku-14/product.json", {"image_urls": ["https://cdn.example.com/sku-14/front.jpg"]})
    ingest(s3_message("inbox/sku-14/product.json"))
    [execution] = executions()
    assert execution["input"]["job"]["image_urls"] == ["https://cdn.example.com/sku-14/front.jpg"]
    assert execution["input"]["input_keys"] == []


def test_a_catalogue_starts_one_catalogue_execution_that_reads_its_rows() -> None:
    # Given a CSV feed of three rows (one with an invalid pose: the catalogue run rejects it alone)
    etag = put(
        "inbox/feed.csv",
        "id,title,image_urls,on_figure_image_types\n"
        "sku-20,Shirt,https://cdn.example.com/a.jpg|https://cdn.example.com/b.jpg,front/standing\n"
        "sku-21,Dress,https://cdn.example.com/c.jpg,back/walking;front/standing\n"
        "sku-22,Coat,https://cdn.example.com/d.jpg,front/dancing\n",
    )

    # When its event arrives
    ingest(s3_message("inbox/feed.csv", etag))

    # Then ingest started one catalogue execution, naming the file's version and where results go,
    # and no job: the catalogue state machine's Distributed Map reads the rows
    [run] = executions(CATALOGUE_STATE_MACHINE_NAME)
    assert run["input"] == {
        "catalogue": {
            "bucket": BUCKET,
            "key": "inbox/feed.csv",
            "etag": etag,
            "format": "csv",
            "report_prefix": "inbox/feed.csv.report/",
            "run_name": run["name"],
        },
        "max_concurrency": 10,
    }
    assert run["name"].startswith("catalogue-feed-")
    assert executions() == []

    # And the same event again starts nothing new
    ingest(s3_message("inbox/feed.csv", etag))
    assert len(executions(CATALOGUE_STATE_MACHINE_NAME)) == 1


def test_a_catalogue_without_the_required_columns_is_refused_before_anything_runs() -> None:
    put("inbox/feed.csv", "id,title,colour\nsku-23,Shirt,red\n")
    ingest(s3_message("inbox/feed.csv"))
    assert executions(CATALOGUE_STATE_MACHINE_NAME) == []
    report = json.loads(s3().get_object(Bucket=BUCKET, Key="inbox/feed.csv.error.json")["Body"].read())
    assert "lacks the column(s) image_urls" in report["error"]


def test_a_jsonl_catalogue_runs_as_json_lines() -> None:
    lines = [
        {"product": {"id": "sku-30"}, "image_urls": ["https://cdn.example.com/x.jpg"], "kind": "flat_lay"},
        {"product": {"id": "sku-31"}, "image_urls": ["https://cdn.example.com/y.jpg"]},
    ]
    put("inbox/feed.jsonl", "\n".join(json.dumps(line) for line in lines))
    ingest(s3_message("inbox/feed.jsonl"))
    [run] = executions(CATALOGUE_STATE_MACHINE_NAME)
    assert run["input"]["catalogue"]["format"] == "jsonl"


def test_a_regeneration_request_starts_a_round_on_the_latest_on_figure_operation() -> None:
    # Given a product whose job succeeded
    base = finished_job("sku-40")

    # When regenerate/sku-40.json asks for new poses
    put(
        "regenerate/sku-40.json",
        {"image_types": ["back/walking", "side/sitting"], "number_of_generations": 2},
    )
    ingest(s3_message("regenerate/sku-40.json"))

    # Then an execution starts straight at the regeneration round of that operation
    [execution] = executions()
    state = execution["input"]
    assert state["operations"][0]["operation_id"] == "op-1"
    assert state["pending_round"]["image_types"] == ["back/walking", "side/sitting"]
    assert job_record(state["job_id"])["base_job_id"] == base


def test_regenerating_a_flat_lay_only_product_is_refused_clearly() -> None:
    finished_job("sku-41", kind="flat_lay")
    put("regenerate/sku-41.json", {"image_types": ["back/walking"]})
    ingest(s3_message("regenerate/sku-41.json"))
    assert executions() == []
    report = json.loads(
        s3().get_object(Bucket=BUCKET, Key="regenerate/sku-41.json.error.json")["Body"].read()
    )
    assert "regeneration is on-figure only" in report["error"]


def test_an_aws_failure_reports_the_message_for_redelivery(pipeline_aws: dict[str, str]) -> None:
    # Given a jobs table that cannot be written (an AWS fault)
    photos("sku-50")
    put("inbox/sku-50/product.json", {})
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=pipeline_aws["JOBS_TABLE"])

    # When its event arrives
    answer = ingest(s3_message("inbox/sku-50/product.json"), json.dumps({"Event": "s3:TestEvent"}))

    # Then only that message is reported failed, so SQS redelivers it (and dead-letters it in the end)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert executions() == []


def test_an_event_for_a_deleted_product_json_starts_nothing() -> None:
    photos("sku-51")
    put("inbox/sku-51/product.json", {})
    s3().delete_object(Bucket=BUCKET, Key="inbox/sku-51/product.json")
    ingest(s3_message("inbox/sku-51/product.json"))
    assert executions() == []
