"""The local stack's speed-ups (``moto_internals.speed_up_hot_paths``) change no answer.

The ones that could: every execution of a state machine shares one parsed program (each execution
must still keep its own state, its retry counts, its data, even when several run at once); and
S3's version listing leaves out the keys outside the prefix before moto's own listing runs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from studio_local.moto_internals import route_lambda_invocations, speed_up_hot_paths
from tests.support.stepfunctions import REGION, create_state_machine, create_task_functions

# A Task that fails as many times as its input says, retried twice: an execution that fails twice
# succeeds on its third attempt; one that fails three times runs out of retries.
DEFINITION = {
    "StartAt": "Flaky step",
    "States": {
        "Flaky step": {
            "Type": "Task",
            "Resource": "${SubmitFunctionArn}",
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1.0}],
            "End": True,
        }
    },
}


@pytest.fixture
def aws() -> Iterator[None]:
    speed_up_hot_paths()
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            yield
    finally:
        speed_up_hot_paths(enable=False)


@pytest.mark.slow
def test_executions_sharing_one_parsed_definition_keep_their_own_retry_counts(aws: None) -> None:
    attempts: Counter[str] = Counter()
    lock = threading.Lock()

    def serve(function_name: str, body: Any, headers: Any) -> tuple[bytes, str | None]:
        event = json.loads(body)
        with lock:
            attempts[event["name"]] += 1
            attempt = attempts[event["name"]]
        if attempt <= event["failures"]:
            error = {"errorType": "Flaky", "errorMessage": f"attempt {attempt}", "stackTrace": []}
            return json.dumps(error).encode(), "Flaky"
        return json.dumps({"name": event["name"], "attempt": attempt}).encode(), None

    undo = route_lambda_invocations(serve)
    try:
        submit_arn = create_task_functions()["SubmitFunctionArn"]
        definition = json.dumps(DEFINITION).replace("${SubmitFunctionArn}", submit_arn)
        state_machine = create_state_machine(definition)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        failures = {"twice-a": 2, "twice-b": 2, "thrice-a": 3, "thrice-b": 3, "never": 0}
        arns = {
            name: sfn.start_execution(
                stateMachineArn=state_machine, name=name, input=json.dumps({"name": name, "failures": count})
            )["executionArn"]
            for name, count in failures.items()
        }
        deadline = time.monotonic() + 30
        described: dict[str, dict[str, Any]] = {}
        while len(described) < len(arns) and time.monotonic() < deadline:
            for name, arn in arns.items():
                answer = sfn.describe_execution(executionArn=arn)
                if answer["status"] != "RUNNING":
                    described[name] = answer
            time.sleep(0.05)
    finally:
        undo()

    assert {name: answer["status"] for name, answer in described.items()} == {
        "twice-a": "SUCCEEDED",
        "twice-b": "SUCCEEDED",
        "thrice-a": "FAILED",
        "thrice-b": "FAILED",
        "never": "SUCCEEDED",
    }
    # One first try and two retries each, never more: no execution used another's retry count.
    assert attempts == {"twice-a": 3, "twice-b": 3, "thrice-a": 3, "thrice-b": 3, "never": 1}
    assert json.loads(described["twice-b"]["output"]) == {"name": "twice-b", "attempt": 3}


def test_a_distributed_map_worker_runs_any_number_of_items_one_after_another(aws: None) -> None:
    from studio_local import moto_map_run

    # Given 1,500 items for a Distributed Map with one worker (moto's own worker recursed per item
    # and died of RecursionError past about 250)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="items")
    s3.put_object(Bucket="items", Key="rows.csv", Body="\n".join(["n", *map(str, range(1500))]).encode())
    definition = {
        "StartAt": "Every row",
        "States": {
            "Every row": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                    "Parameters": {"Bucket": "items", "Key": "rows.csv"},
                },
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Pass it",
                    "States": {"Pass it": {"Type": "Pass", "Result": {"ok": True}, "End": True}},
                },
                "ResultSelector": {"count.$": "States.ArrayLength($)"},
                "End": True,
            }
        },
    }
    moto_map_run.install()
    try:
        state_machine = create_state_machine(json.dumps(definition), name="many-items")
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.start_execution(stateMachineArn=state_machine, name="all")["executionArn"]
        deadline = time.monotonic() + 120
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the map run did not end in 120 s"
            time.sleep(0.2)
    finally:
        moto_map_run.uninstall()

    # Then the map run went through every item and ended
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"count": 1500}


def version_listings(s3: Any, bucket: str) -> list[Any]:
    """Every way ingest and the tests list versions: by prefix, by a key's own name, with a
    delimiter, paginated by two, and the whole bucket."""
    answers = []
    for prefix, extra in [
        ("incoming/shirt/", {}),
        ("incoming/shirt/photo.jpg", {}),
        ("incoming/", {"Delimiter": "/"}),
        ("incoming/sh", {}),
        ("", {}),
    ]:
        pages = s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 2}, **extra
        )
        for page in pages:
            answers.append(
                {
                    field: page.get(field)
                    for field in ("Versions", "DeleteMarkers", "CommonPrefixes", "NextKeyMarker")
                }
            )
    return answers


def test_listing_versions_under_a_prefix_answers_as_moto_does() -> None:
    # Given a versioned bucket: folders side by side, a photo overwritten, a file deleted
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        bucket = "speed-ups-bucket"
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for folder in ("shirt", "shirts", "shoe"):
            for name in ("photo.jpg", "product.json", "back.jpg"):
                s3.put_object(Bucket=bucket, Key=f"incoming/{folder}/{name}", Body=name.encode())
        s3.put_object(Bucket=bucket, Key="incoming/shirt/photo.jpg", Body=b"again")
        s3.delete_object(Bucket=bucket, Key="incoming/shirt/back.jpg")
        s3.put_object(Bucket=bucket, Key="outbox/shirt/result.json", Body=b"{}")

        # When the same listings are made without the speed-ups and with them
        plain = version_listings(s3, bucket)
        speed_up_hot_paths()
        try:
            sped_up = version_listings(s3, bucket)
        finally:
            speed_up_hot_paths(enable=False)

    # Then every page is the same, and the prefix still leaves out its neighbours
    assert sped_up == plain
    assert plain[0]["Versions"] and all(v["Key"].startswith("incoming/shirt/") for v in plain[0]["Versions"])
