"""The whole product on the local stack, driven as a user drives it.

Objects go into the inbox (or regenerate/); the test then watches what a user watches: the jobs
table, the outbox, the execution history. One stack serves the module: the template's own
parameters make it quick (1 s poll waits, a 2 s quiet period, a 6 s offline deadline).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from PIL import Image

from studio_cli.samples import SampleProduct, product_photo
from studio_local import LocalStudio
from studio_sim.settings import SimSettings

PARAMETERS = {
    "PollFirstWaitOnlineSeconds": "1",
    "PollFirstWaitOfflineSeconds": "1",
    "PollMinWaitSeconds": "1",
    "PollMaxWaitSeconds": "2",
    "InboxQuietSeconds": "2",
    "JobDeadlineOfflineSeconds": "6",
    # The catalogue test hosts its photos on the local moto server (loopback).
    "AllowPrivateImageUrls": "true",
}
TERMINAL = {"SUCCEEDED", "PARTIAL", "FAILED", "TIMED_OUT"}


@pytest.fixture(scope="module")
def studio() -> Iterator[LocalStudio]:
    stack = LocalStudio(
        parameter_overrides=PARAMETERS,
        sim_settings=SimSettings(operation_seconds=1.5),
        function_environment={"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"},
        batching_window_seconds=0,
    )
    with stack:
        yield stack


def upload(studio: LocalStudio, product: SampleProduct) -> None:
    """Photos first, then product.json, as `studio submit` does."""
    s3 = studio.client("s3")
    files = product.files()
    for name in sorted(files, key=lambda n: n == "product.json"):
        s3.put_object(Bucket=studio.bucket, Key=f"inbox/{product.product_id}/{name}", Body=files[name])


def jobs_of(studio: LocalStudio, product_id: str) -> list[dict[str, Any]]:
    """The product's jobs, through the table's ByProduct index."""
    items = studio.client("dynamodb").query(
        TableName=studio.jobs_table,
        IndexName="ByProduct",
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": f"PRODUCT#{product_id}"}},
    )["Items"]
    plain = TypeDeserializer()
    return [{k: plain.deserialize(v) for k, v in item.items()} for item in items]


def wait_for_jobs(
    studio: LocalStudio, product_id: str, count: int = 1, timeout: float = 60
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = jobs_of(studio, product_id)
        if len(jobs) >= count and all(job["status"] in TERMINAL for job in jobs):
            return sorted(jobs, key=lambda job: job["created_at"])
        if time.monotonic() > deadline:
            raise AssertionError(f"{product_id}: jobs not finished after {timeout} s: {jobs}")
        time.sleep(0.3)


def outbox(studio: LocalStudio, product_id: str) -> dict[str, bytes]:
    s3 = studio.client("s3")
    listed = s3.list_objects_v2(Bucket=studio.bucket, Prefix=f"outbox/{product_id}/").get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=studio.bucket, Key=o["Key"])["Body"].read() for o in listed}


def history_states(studio: LocalStudio, job: dict[str, Any]) -> list[str]:
    sfn = studio.client("stepfunctions")
    arn = studio.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{job['execution_name']}"
    # The record is terminal a moment before the execution's last state: wait for the execution.
    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def check_outputs(studio: LocalStudio, job: dict[str, Any]) -> list[dict[str, Any]]:
    """What each "Check operation status" invocation of the job's execution returned."""
    sfn = studio.client("stepfunctions")
    arn = studio.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{job['execution_name']}"
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [
        json.loads(e["stateExitedEventDetails"]["output"])
        for e in events
        if e.get("stateExitedEventDetails", {}).get("name") == "Check operation status"
    ]


def test_product_folders_become_images_of_the_requested_size(studio: LocalStudio) -> None:
    # Given a product with a job file asking for two on-figure shots at 400x600, via presigned URLs
    shirt = SampleProduct(
        "e2e-shirt",
        "tshirt",
        (200, 180, 150),
        manifest={
            "image_types": ["front/standing", "back/walking"],
            "output_image_size": {"width": 400, "height": 600},
        },
    )

    # When its folder is uploaded
    upload(studio, shirt)

    # Then the job succeeds, and every image in the outbox decodes at the requested size
    [job] = wait_for_jobs(studio, "e2e-shirt")
    assert job["status"] == "SUCCEEDED", job.get("error")
    pictures = {k: v for k, v in outbox(studio, "e2e-shirt").items() if k.endswith(".png")}
    assert len(pictures) == 2
    for body in pictures.values():
        with Image.open(io.BytesIO(body)) as picture:
            assert picture.size == (400, 600)
    result = json.loads(outbox(studio, "e2e-shirt")[f"outbox/e2e-shirt/{job['job_id']}/result.json"])
    assert result["status"] == "SUCCEEDED"
    states = history_states(studio, job)
    assert (
        states[:2] == ["New job or regeneration request?", "Submit generation to Aiuta"]
        and states[-1] == "Job succeeded"
    )


def test_a_flat_lay_job_with_uploaded_bytes_and_no_job_file(studio: LocalStudio) -> None:
    # Given photos alone (the defaults apply once the folder is quiet), in upload mode via a job file
    dress = SampleProduct(
        "e2e-dress", "dress", (150, 30, 60), manifest={"kind": "flat_lay", "input_mode": "upload"}
    )
    upload(studio, dress)
    [job] = wait_for_jobs(studio, "e2e-dress")
    assert job["status"] == "SUCCEEDED", job.get("error")
    assert job["input_mode"] == "upload"
    assert any("/flat_lay/ghost_mannequin-front-v1.png" in key for key in outbox(studio, "e2e-dress"))


def test_photos_without_a_job_file_start_once_the_folder_is_quiet(studio: LocalStudio) -> None:
    s3 = studio.client("s3")
    for i in range(2):
        s3.put_object(
            Bucket=studio.bucket,
            Key=f"inbox/e2e-quiet/p{i}.jpg",
            Body=product_photo("jacket", (20, 20, 20), angle=i),
        )
    [job] = wait_for_jobs(studio, "e2e-quiet")
    assert job["status"] == "SUCCEEDED", job.get("error")
    assert len(job["input_keys"]) == 2


def test_duplicate_uploads_create_one_aiuta_operation(studio: LocalStudio) -> None:
    # Given the same product uploaded twice in a row (the same bytes: S3 gives the same ETags)
    jacket = SampleProduct("e2e-twice", "jacket", (10, 60, 90), manifest={})
    before = studio.simulator_admin.calls()["calls"].get("POST /studio/v1/on_figure_operations", 0)
    upload(studio, jacket)
    upload(studio, jacket)

    # Then there is one job and Aiuta got one create
    [job] = wait_for_jobs(studio, "e2e-twice")
    assert job["status"] == "SUCCEEDED"
    # Once every message and execution has drained, a stray duplicate would have shown up
    studio.wait_until_idle(include_delayed=False)
    assert len(jobs_of(studio, "e2e-twice")) == 1
    after = studio.simulator_admin.calls()["calls"].get("POST /studio/v1/on_figure_operations", 0)
    assert after - before == 1


def test_a_regeneration_request_adds_new_types_for_the_same_product(studio: LocalStudio) -> None:
    # Given a product whose first job succeeded
    coat = SampleProduct("e2e-coat", "jacket", (120, 100, 80), manifest={"image_types": ["front/standing"]})
    upload(studio, coat)
    [first] = wait_for_jobs(studio, "e2e-coat")
    assert first["status"] == "SUCCEEDED"

    # When regenerate/e2e-coat.json asks for a new pose
    body = json.dumps({"image_types": ["side/sitting"]}).encode()
    studio.client("s3").put_object(Bucket=studio.bucket, Key="regenerate/e2e-coat.json", Body=body)

    # Then a second job for the product adds the new type, from the first job's operation
    first_job, second = wait_for_jobs(studio, "e2e-coat", count=2)
    assert second["status"] == "SUCCEEDED", second.get("error")
    assert second["base_job_id"] == first_job["job_id"]
    keys = outbox(studio, "e2e-coat")
    assert any(k.startswith(f"outbox/e2e-coat/{second['job_id']}/on_figure/side-sitting") for k in keys)


def test_bad_input_fails_with_a_message_and_a_report(studio: LocalStudio) -> None:
    broken = SampleProduct("e2e-broken", "tshirt", (0, 0, 0), manifest={"number_of_generations": 7})
    upload(studio, broken)
    [job] = wait_for_jobs(studio, "e2e-broken")
    assert job["status"] == "FAILED"
    assert "number_of_generations" in job["error"]
    report = studio.client("s3").get_object(Bucket=studio.bucket, Key="inbox/e2e-broken/_error.json")
    assert "number_of_generations" in json.loads(report["Body"].read())["error"]


def test_a_failed_operation_is_recorded_with_aiutas_error(studio: LocalStudio) -> None:
    failing = SampleProduct(
        "e2e-failing", "dress", (0, 100, 0), manifest={"product": {"description": "[sim:FAILED]"}}
    )
    upload(studio, failing)
    [job] = wait_for_jobs(studio, "e2e-failing")
    assert job["status"] == "FAILED"
    assert "ended FAILED" in job["error"]
    assert history_states(studio, job)[-3:] == ["Record failure", "Failed or timed out?", "Job failed"]


def test_an_operation_that_never_finishes_times_out(studio: LocalStudio) -> None:
    late = SampleProduct(
        "e2e-late",
        "dress",
        (0, 0, 100),
        manifest={"operation_priority": "offline", "product": {"description": "[sim:NEVER_FINISHES]"}},
    )
    upload(studio, late)
    [job] = wait_for_jobs(studio, "e2e-late", timeout=90)
    assert job["status"] == "TIMED_OUT"
    assert "deadline" in job["error"]
    # Its checks, 1-2 s apart (under the loop's break-even), were made in fewer invocations of
    # "Check operation status" than checks, each output naming the checks it made, in order
    history_states(studio, job)  # waits for the execution to end
    outputs = check_outputs(studio, job)
    made = [check["attempt"] for output in outputs for check in output["checks"]]
    assert len(outputs) < len(made)
    assert made == list(range(1, len(made) + 1))


def test_a_catalogue_of_hosted_images_runs_one_job_per_row(studio: LocalStudio) -> None:
    # Given product photos hosted elsewhere (here: presigned links to another prefix of the bucket)
    s3 = studio.client("s3")
    links = {}
    for product_id, colour in (("e2e-feed-a", (200, 0, 0)), ("e2e-feed-b", (0, 0, 200))):
        key = f"hosted/{product_id}.jpg"
        s3.put_object(Bucket=studio.bucket, Key=key, Body=product_photo("tshirt", colour))
        params = {"Bucket": studio.bucket, "Key": key}
        links[product_id] = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=600)

    # When a CSV feed lists them, with one bad row
    feed = "id,title,image_urls,on_figure_image_types\n" + "".join(
        f"{product_id},Tee,{link},front/standing\n" for product_id, link in links.items()
    )
    feed += "e2e-feed-c,Tee,not-a-url,front/standing\n"
    s3.put_object(Bucket=studio.bucket, Key="inbox/e2e-feed.csv", Body=feed.encode())

    # Then each good row is a job that succeeds with no photo in the inbox; the bad row fails alone
    for product_id in links:
        [job] = wait_for_jobs(studio, product_id)
        assert job["status"] == "SUCCEEDED", job.get("error")
        assert job["input_keys"] == []
    [bad] = wait_for_jobs(studio, "e2e-feed-c")
    assert bad["status"] == "FAILED" and "image_urls" in bad["error"]


def test_every_job_ends_in_a_terminal_state(studio: LocalStudio) -> None:
    # Given one more product on top of what the other tests of this module sent
    upload(studio, SampleProduct("e2e-last", "dress", (90, 90, 90), manifest={}))
    wait_for_jobs(studio, "e2e-last")
    studio.wait_until_idle(timeout=60, include_delayed=False)
    # The table also holds items that are not jobs (the learned poll schedule's estimates)
    scanned = studio.client("dynamodb").scan(TableName=studio.jobs_table)["Items"]
    items = [item for item in scanned if item["sk"]["S"] == "JOB"]
    assert items
    assert {item["status"]["S"] for item in items} <= TERMINAL
