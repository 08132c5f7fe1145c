"""Fixture ingest: one execution per object key; a key with "fail" in it is a batch item failure."""

import json
import os
import re

import boto3


def lambda_handler(event, context):
    failures = []
    stepfunctions = boto3.client("stepfunctions")
    for record in event["Records"]:
        body = json.loads(record["body"])
        if body.get("Event") == "s3:TestEvent":
            continue
        key = body["Records"][0]["s3"]["object"]["key"]
        if "fail" in key:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        stepfunctions.start_execution(
            stateMachineArn=os.environ["STATE_MACHINE_ARN"],
            name=re.sub(r"[^A-Za-z0-9_-]", "-", key)[:80],
            input=json.dumps({"key": key, "reject": "reject" in key}),
        )
    return {"batchItemFailures": failures}
