"""S3 events through SQS to the ingest Lambda, as the bucket notification delivers them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

import boto3

from studio_core import clients
from studio_core.domain.jobs import JobDefaults, build_job
from studio_core.domain.record import RequestKind
from studio_core.domain.state import OperationRef
from studio_core.domain.vocabulary import Kind
from tests.support.aws import BUCKET, REGION, STATE_MACHINE_NAME
from tests.support.lambdas import FakeLambdaContext, load_handler


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def put(key: str, body: bytes | dict[str, Any] | str) -> str:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return s3().put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"].strip('"')


def s3_message(key: str, etag: str = "etag") -> str:
    """The body S3 puts on the queue for one new object (keys URL-encoded, as S3 does)."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": REGION,
                    "eventTime": "2026-11-25T10:00:00.000Z",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                        "object": {"key": quote_plus(key), "size": 1, "eTag": etag},
                    },
                }
            ]
        }
    )


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"r-{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "x",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:studio-test-ingest",
                "awsRegion": REGION,
            }
            for i, body in enumerate(bodies)
        ]
    }


def ingest(*bodies: str) -> dict[str, Any]:
    return load_handler("ingest").lambda_handler(sqs_event(*bodies), FakeLambdaContext("ingest"))


def executions(machine: str = STATE_MACHINE_NAME) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    [arn] = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == machine]
    found = sfn.list_executions(stateMachineArn=arn)["executions"]
    return [
        {**e, "input": json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])}
        for e in found
    ]


def finished_job(product_id: str, kind: str = "on_figure") -> str:
    job_id = f"{product_id}-done"
    spec = build_job(
        product_id,
        {"kind": kind, "image_urls": ["https://cdn.example.com/x.jpg"]},
        image_count=0,
        defaults=JobDefaults(),
    )
    jobs = clients.jobs_table()
    jobs.create_queued(
        job_id=job_id,
        product_id=product_id,
        spec=spec,
        request_kind=RequestKind.FOLDER,
        source_key=f"inbox/{product_id}/product.json",
        execution_name=job_id,
    )
    operation = OperationRef(kind=Kind(kind), operation_id="op-1", status="SUCCESS")
    jobs.mark_generating(job_id, operations=[operation], submitted_at="t", input_mode="urls")
    return job_id
