"""Shared fixtures: fake AWS credentials, moto-backed resources, the Studio simulator."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

# Powertools reads these when studio_core.observability is first imported (at collection).
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "StudioPipelineTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "studio-pipeline")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

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


def create_table_from_template(logical_id: str, name: str) -> None:
    """A table with the keys and indexes `template.yaml` gives `logical_id` (one source of truth)."""
    from studio_local.cfn_yaml import load_template

    properties = load_template(REPO_ROOT / "template.yaml")["Resources"][logical_id]["Properties"]
    wanted = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name, **{k: properties[k] for k in wanted if k in properties}
    )


def create_jobs_table(name: str = JOBS_TABLE) -> None:
    create_table_from_template("JobsTable", name)


def create_idempotency_table(name: str = IDEMPOTENCY_TABLE) -> None:
    create_table_from_template("IdempotencyTable", name)


@pytest.fixture
def studio_aws(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The bucket, tables and secret the Lambdas use, in moto, with the environment set."""
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


SIM_API_KEY = "sim-test-key-not-a-secret"


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


def openapi_spec_path() -> Path:
    """The Aiuta OpenAPI reference: ``$STUDIO_OPENAPI_SPEC``, else ``<repo>/../shared/reference/``."""
    override = os.environ.get("STUDIO_OPENAPI_SPEC")
    return (
        Path(override)
        if override
        else REPO_ROOT.parent / "shared" / "reference" / "aiuta-studio-openapi.json"
    )


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


class SpecCheckedSession(requests.Session):
    """A session to the simulator that checks every ``/studio/v1`` JSON answer against the Aiuta spec.

    Answers with a status the spec documents must match that response's schema; 401/403/404/429/5xx
    (which the spec leaves out) must at least carry a string ``detail``.
    """

    def __init__(self, base_url: str, api_key: str, spec: dict[str, Any] | None) -> None:
        super().__init__()
        self.base_url = base_url
        self.headers["x-api-key"] = api_key
        self.spec = spec
        self.checked = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        full_url = url if url.startswith("http") else self.base_url + url
        kwargs.setdefault("timeout", 30)
        response = super().request(method, full_url, *args, **kwargs)
        if full_url.startswith(self.base_url) and self.spec is not None:
            check_against_spec(self.spec, method, full_url[len(self.base_url) :], response)
            self.checked += 1
        return response


def check_against_spec(spec: dict[str, Any], method: str, path: str, response: requests.Response) -> None:
    from jsonschema import Draft202012Validator

    template = spec_path_template(spec, path.split("?", 1)[0])
    operation = spec["paths"].get(template, {}).get(method.lower()) if template else None
    documented = (operation or {}).get("responses", {}).get(str(response.status_code))
    if documented is None:
        if response.status_code >= 400 and response.status_code != 422:
            assert isinstance(response.json().get("detail"), str), response.text
        return
    schema = documented.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        assert not response.content, f"{method} {path}: {response.status_code} should have no body"
        return
    document = {**schema, "components": spec["components"]}
    validator = Draft202012Validator(document, format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.json())]
    assert not problems, f"{method} {path} -> {response.status_code} breaks the spec: {problems[:5]}"


def spec_path_template(spec: dict[str, Any], path: str) -> str | None:
    """The spec's path (``/uploaded_images/{image_id}``) that a concrete path falls under."""
    parts = path.strip("/").split("/")
    for template in sorted(spec["paths"], key=lambda t: "{" in t):
        pattern = template.strip("/").split("/")
        if len(pattern) == len(parts) and all(
            p == q or (p.startswith("{") and p.endswith("}")) for p, q in zip(pattern, parts, strict=True)
        ):
            return template
    return None


@pytest.fixture
def sim_http(
    studio_sim: Any, sim_api_key: str, studio_openapi: dict[str, Any] | None
) -> Iterator[SpecCheckedSession]:
    """``requests`` to the simulator with the key set, each answer checked against the spec if present."""
    with SpecCheckedSession(studio_sim.base_url, sim_api_key, studio_openapi) as session:
        yield session


def pytest_report_header() -> str:
    return f"studio pipeline tests; repo {REPO_ROOT.name}; python {os.sys.version.split()[0]}"


# The pipeline's AWS side in a moto server (not decorator mode): the simulator must be able to
# download presigned S3 URLs over HTTP, as Aiuta downloads them from S3.

STATE_MACHINE_NAME = "studio-test-jobs"
CATALOGUE_STATE_MACHINE_NAME = "studio-test-catalogue"
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
        "AIUTA_RETRY_BACKOFF_FACTOR": "0.01",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_clients()
    yield env
    reset_clients()


_HANDLERS: dict[str, Any] = {}


def load_handler(function: str, *, cold_start: bool = False) -> Any:
    """``functions/<function>/app.py`` imported as Lambda does (once per 'cold start' of the session).

    Import inside a test, after the environment is set: the module validates it at import.
    ``cold_start=True`` imports it again, for a test that changes the settings it reads at start-up.
    """
    if cold_start or function not in _HANDLERS:
        import importlib.util

        path = REPO_ROOT / "functions" / function / "app.py"
        spec = importlib.util.spec_from_file_location(f"studio_function_{function}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _HANDLERS[function] = module
    return _HANDLERS[function]


class FakeLambdaContext:
    """The parts of a Lambda context Powertools reads."""

    def __init__(self, function_name: str = "studio-test-function") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"
        self.aws_request_id = "00000000-0000-4000-8000-000000000000"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def job_record(job_id: str) -> dict[str, Any] | None:
    """The typed ``JobRecord`` of a job, as the JSON a person reads (needs the table's environment)."""
    from studio_core import clients

    record = clients.jobs_table().get(job_id)
    return record.model_dump(mode="json") if record else None


def product_records(product_id: str) -> list[dict[str, Any]]:
    from studio_core import clients

    return [r.model_dump(mode="json") for r in clients.jobs_table().for_product(product_id)]


def queued_job(product_id: str = "sku-1", images: int = 2, **document: Any) -> dict[str, Any]:
    """What ingest hands an execution: a validated job, its photos in the inbox, a QUEUED record.

    Needs ``pipeline_aws``. ``document`` is the job file's content (empty: the defaults).
    """
    from studio_cli.samples import product_photo
    from studio_core import clients
    from studio_core.domain.jobs import JobDefaults, build_job
    from studio_core.domain.record import RequestKind

    s3 = boto3.client("s3", region_name=REGION)
    keys = []
    for i in range(images):
        key = f"inbox/{product_id}/photo-{i + 1}.jpg"
        s3.put_object(Bucket=BUCKET, Key=key, Body=product_photo("jacket", (30, 80, 50), angle=i))
        keys.append(key)
    spec = build_job(product_id, document or None, image_count=images, defaults=JobDefaults())
    job_id = f"{product_id}-job"
    clients.jobs_table().create_queued(
        job_id=job_id,
        product_id=product_id,
        spec=spec,
        request_kind=RequestKind.FOLDER,
        source_key=keys[0] if keys else f"inbox/{product_id}/product.json",
        execution_name=job_id,
        input_keys=keys,
    )
    return {"job_id": job_id, "product_id": product_id, "job": spec.to_state(), "input_keys": keys}
