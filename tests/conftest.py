"""Shared fixtures: fake AWS credentials, moto-backed resources, the Studio simulator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from studio_core.clients import reset_clients

REPO_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
BUCKET = "studio-test-bucket"
JOBS_TABLE = "studio-test-jobs"
IDEMPOTENCY_TABLE = "studio-test-idempotency"
SECRET_NAME = "studio/aiuta-api-key"


@pytest.fixture(autouse=True)
def _fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Never let a test reach a real account, whatever the developer's shell has.
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "StudioPipelineTests")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "studio-pipeline")
    reset_clients()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def create_jobs_table(name: str = JOBS_TABLE) -> None:
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"}
            for n in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{prefix}pk", "KeyType": "HASH"},
                    {"AttributeName": f"{prefix}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, prefix in (("ByProduct", "gsi1"), ("ByStatus", "gsi2"))
        ],
    )


@pytest.fixture
def studio_aws(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The bucket, tables and secret the Lambdas use, in moto, with the environment set."""
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    create_jobs_table()
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=IDEMPOTENCY_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    env = {
        "STUDIO_BUCKET": BUCKET,
        "JOBS_TABLE": JOBS_TABLE,
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "AIUTA_API_KEY_SECRET": SECRET_NAME,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_clients()
    return env


def pytest_report_header() -> str:
    return f"studio pipeline tests; repo {REPO_ROOT.name}; python {os.sys.version.split()[0]}"
