"""Shared fixtures: fake AWS credentials, moto-backed resources, the Studio simulator."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.support import REPO_ROOT
from tests.support.aws import (
    BUCKET,
    CATALOGUE_STATE_MACHINE_NAME,
    IDEMPOTENCY_TABLE,
    JOBS_TABLE,
    REGION,
    SECRET_NAME,
    STATE_MACHINE_NAME,
    create_idempotency_table,
    create_jobs_table,
)
from tests.support.lambdas import FakeLambdaContext
from tests.support.simulator import SIM_API_KEY, openapi_spec_path

if TYPE_CHECKING:
    from tests.support.simulator import SpecCheckedSession

# Powertools reads these when studio_core.observability is first imported (at collection).
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "StudioPipelineTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "studio-pipeline")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

# moto, boto3, requests and studio_core.clients (boto3, the X-Ray SDK) are imported inside the
# fixtures that use them: the unit tests never do, and `make unit` should not pay for them.


def reset_clients() -> None:
    """Forget the cached AWS adapters, if a test loaded them (the unit tests do not)."""
    clients = sys.modules.get("studio_core.clients")
    if clients is not None:
        clients.reset_clients()


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
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def studio_aws(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The bucket, tables and secret the Lambdas use, in moto, with the environment set."""
    import boto3

    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    create_jobs_table()
    create_idempotency_table()
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


@pytest.fixture(scope="session")
def _studio_sim_server() -> Iterator[Any]:
    from studio_sim.server import SimSettings, run_in_thread

    simulator = run_in_thread(SimSettings(api_key=SIM_API_KEY))
    yield simulator
    simulator.stop()


@pytest.fixture
def sim_api_key() -> str:
    return SIM_API_KEY


@pytest.fixture
def studio_sim(_studio_sim_server: Any) -> Iterator[Any]:
    """The Studio simulator (a ``RunningSimulator``), fresh for each test: state, faults and clock reset.

    One server serves the whole session; ``reset()`` before and after each test keeps tests apart.
    """
    _studio_sim_server.admin.reset()
    yield _studio_sim_server
    _studio_sim_server.admin.reset()


@pytest.fixture(scope="session")
def studio_openapi() -> dict[str, Any] | None:
    """The parsed Aiuta OpenAPI document, or None when it is not on this machine.

    Under CI (``CI=true``) a missing reference is an error: the contract tests must run there.
    """
    path = openapi_spec_path()
    if path.is_file():
        return json.loads(path.read_text())
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true, but the Aiuta OpenAPI reference is missing ({path}): contract tests must run")
    return None


@pytest.fixture
def sim_http(
    studio_sim: Any, sim_api_key: str, studio_openapi: dict[str, Any] | None
) -> Iterator[SpecCheckedSession]:
    """``requests`` to the simulator with the key set, each answer checked against the spec if present."""
    from tests.support.simulator import SpecCheckedSession

    with SpecCheckedSession(studio_sim.base_url, sim_api_key, studio_openapi) as session:
        yield session


def pytest_report_header() -> str:
    return f"studio pipeline tests; repo {REPO_ROOT.name}; python {os.sys.version.split()[0]}"


# The pipeline's AWS side in a moto server (not decorator mode): the simulator must be able to
# download presigned S3 URLs over HTTP, as Aiuta downloads them from S3.

PLACEHOLDER_DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto's Step Functions interpreter calls Lambda at http://localhost:$MOTO_PORT in server mode.
    os.environ["MOTO_PORT"] = str(port)
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def pipeline_aws(
    _moto_server: str, studio_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Bucket, tables, secret, queue and a (non-executing) state machine in a fresh moto server,
    with the environment the Lambdas read set, and the Aiuta URL pointing at the simulator."""
    import boto3
    import requests

    requests.post(f"{_moto_server}/moto-api/reset", timeout=10).raise_for_status()
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_server)
    create_jobs_table()
    create_idempotency_table()
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    # Versioned, as the template's bucket is: ingest reads objects at the version events name.
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=SECRET_NAME, SecretString=json.dumps({"api_key": SIM_API_KEY})
    )
    queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="studio-test-ingest")[
        "QueueUrl"
    ]
    machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=PLACEHOLDER_DEFINITION,
        roleArn="arn:aws:iam::123456789012:role/studio-test",
    )
    catalogues = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name=CATALOGUE_STATE_MACHINE_NAME,
        definition=PLACEHOLDER_DEFINITION,
        roleArn="arn:aws:iam::123456789012:role/studio-test",
    )
    env = {
        "STUDIO_BUCKET": BUCKET,
        "JOBS_TABLE": JOBS_TABLE,
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "AIUTA_API_KEY_SECRET": secret["Name"],
        "AIUTA_API_URL": studio_sim.base_url,
        "ALLOW_LOOPBACK_URLS": "true",  # the simulator listens on 127.0.0.1, as on the local stack
        "STATE_MACHINE_ARN": machine["stateMachineArn"],
        "CATALOGUE_STATE_MACHINE_ARN": catalogues["stateMachineArn"],
        "INGEST_QUEUE_URL": queue_url,
        "INBOX_QUIET_SECONDS": "30",
        "POLL_FIRST_WAIT_ONLINE_SECONDS": "1",
        "POLL_MIN_WAIT_SECONDS": "1",
        # One check per invocation, unless a test gives the status check a clock to sleep on.
        "POLL_IN_LAMBDA_SECONDS": "0",
        "AIUTA_RETRY_BACKOFF_FACTOR": "0.01",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_clients()
    yield env
    reset_clients()


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def answers_carry_unknown_fields(studio_sim: Any) -> None:
    """Tolerant reading: every answer has fields and enum values the contract does not define."""
    studio_sim.admin.configure(extra_answer_fields=True)


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    """template.yaml as ``sam deploy`` translates it, the IAM roles SAM generates included."""
    from tests.support.template import translate_template

    return translate_template()
