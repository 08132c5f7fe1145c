"""The local stack: template.yaml deployed into moto, Lambdas in-process, the ingest queue polled.

Two stacks, one after the other (moto's backends and its Lambda hook are process-wide): the
project's own template, checked against its source, and a small fixture template with the same
shape whose functions make the runtime's behaviour visible (errors, layers, partial batches).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from studio_local import LocalStudio, UnsupportedResourceError
from studio_local.cfn_yaml import load_template
from studio_sim.settings import SimSettings

pytestmark = pytest.mark.local_stack

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
FIXTURE = Path(__file__).resolve().parent / "fixtures_local"


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def port_is_closed(url: str) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, int(port))) != 0


def assert_fully_stopped(studio: LocalStudio, threads_before: set[threading.Thread]) -> None:
    """No thread the stack started is alive, and neither server still listens."""
    deadline = time.monotonic() + 10
    while (leaked := set(threading.enumerate()) - threads_before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not leaked, f"threads left running: {sorted(t.name for t in leaked)}"
    assert port_is_closed(studio.endpoint_url)
    assert port_is_closed(studio.simulator_url)


def started_stack(studio: LocalStudio) -> Iterator[LocalStudio]:
    threads_before = set(threading.enumerate())
    studio.start()
    try:
        yield studio
    finally:
        studio.stop()
        assert_fully_stopped(studio, threads_before)


# ------------------------------------------------------------------------------- the real template


@pytest.fixture(scope="class")
def studio() -> Iterator[LocalStudio]:
    if not TEMPLATE.is_file():
        pytest.skip("template.yaml is not in this checkout yet")
    yield from started_stack(
        LocalStudio(
            TEMPLATE,
            parameter_overrides={"PollFirstWaitOnlineSeconds": 1, "PollMinWaitSeconds": 1},
            sim_settings=SimSettings(operation_seconds=1),
            # Tests need not wait out the template's 5 s batching window.
            batching_window_seconds=0,
        )
    )


@pytest.fixture(scope="class")
def sam_template() -> dict[str, Any]:
    if not TEMPLATE.is_file():
        pytest.skip("template.yaml is not in this checkout yet")
    return load_template(TEMPLATE)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v.get("Properties") or {} for k, v in template["Resources"].items() if v["Type"] == kind}


class TestProjectTemplate:
    def test_bucket_and_its_notifications_match_the_template(
        self, studio: LocalStudio, sam_template: dict[str, Any]
    ) -> None:
        # Given the template's bucket notification prefixes
        (bucket_properties,) = resources_of(sam_template, "AWS::S3::Bucket").values()
        declared = sorted(
            rule["Value"]
            for entry in bucket_properties["NotificationConfiguration"]["QueueConfigurations"]
            for rule in entry["Filter"]["S3Key"]["Rules"]
        )
        # Then the deployed bucket notifies the ingest queue for exactly those prefixes
        s3 = studio.client("s3")
        s3.head_bucket(Bucket=studio.bucket)
        applied = s3.get_bucket_notification_configuration(Bucket=studio.bucket)["QueueConfigurations"]
        assert sorted(r["Value"] for q in applied for r in q["Filter"]["Key"]["FilterRules"]) == declared
        ingest_arn = studio.client("sqs").get_queue_attributes(
            QueueUrl=studio.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        assert {q["QueueArn"] for q in applied} == {ingest_arn}

    def test_tables_have_the_template_keys_and_indexes(
        self, studio: LocalStudio, sam_template: dict[str, Any]
    ) -> None:
        dynamodb = studio.client("dynamodb")
        tables = resources_of(sam_template, "AWS::DynamoDB::Table")
        assert tables, "the template declares tables"
        for logical_id, properties in tables.items():
            table = dynamodb.describe_table(TableName=studio.stack.physical_id(logical_id))["Table"]
            assert table["KeySchema"] == properties["KeySchema"]
            declared = sorted(i["IndexName"] for i in properties.get("GlobalSecondaryIndexes", []))
            assert sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])) == declared
        assert studio.jobs_table == studio.stack.physical_id("JobsTable")

    def test_queue_redrives_to_its_dead_letter_queue_as_declared(
        self, studio: LocalStudio, sam_template: dict[str, Any]
    ) -> None:
        declared = resources_of(sam_template, "AWS::SQS::Queue")["IngestQueue"]
        sqs = studio.client("sqs")
        attributes = sqs.get_queue_attributes(QueueUrl=studio.queue_url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        dead_letter_arn = sqs.get_queue_attributes(
            QueueUrl=studio.dead_letter_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        assert redrive == {
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": declared["RedrivePolicy"]["maxReceiveCount"],
        }
        assert int(attributes["VisibilityTimeout"]) == declared["VisibilityTimeout"]
        assert set(studio.queue_urls) == set(resources_of(sam_template, "AWS::SQS::Queue"))

    def test_state_machine_runs_the_asl_file_with_the_deployed_functions(
        self, studio: LocalStudio, sam_template: dict[str, Any]
    ) -> None:
        # Given the ASL file the template names for the job state machine
        machine = resources_of(sam_template, "AWS::Serverless::StateMachine")["StudioJobStateMachine"]
        asl = json.loads((REPO / machine["DefinitionUri"]).read_text())
        # Then the executing backend has that definition, substitutions resolved to deployed ARNs
        described = studio.client("stepfunctions").describe_state_machine(
            stateMachineArn=studio.state_machine_arn
        )
        definition = json.loads(described["definition"])
        assert set(definition["States"]) == set(asl["States"])
        assert "${" not in described["definition"]
        function_arns = {f.arn for f in studio.lambdas.functions}
        tasks = [s for s in definition["States"].values() if s["Type"] == "Task"]
        task_resources = {s["Resource"] for s in tasks}
        integrations = {"arn:aws:states:::lambda:invoke", "arn:aws:states:::lambda:invoke.waitForTaskToken"}
        assert task_resources <= function_arns | integrations
        # and an integration's FunctionName is a deployed function too ("Wait for review")
        named = {s["Parameters"]["FunctionName"] for s in tasks if s["Resource"] in integrations}
        assert named <= function_arns

    def test_every_function_runs_locally_with_resolved_environment(
        self, studio: LocalStudio, sam_template: dict[str, Any]
    ) -> None:
        declared = resources_of(sam_template, "AWS::Serverless::Function")
        functions = {f.logical_id: f for f in studio.lambdas.functions}
        assert set(functions) == set(declared)
        for function in functions.values():
            environment = function.environment
            assert environment["STUDIO_BUCKET"] == studio.bucket
            assert environment["JOBS_TABLE"] == studio.jobs_table
            assert environment["AIUTA_API_URL"] == studio.simulator_url
            assert environment["POLL_MIN_WAIT_SECONDS"] == "1"  # a Number parameter, as Lambda text
            assert all(isinstance(v, str) and "Ref" not in v for v in environment.values()), environment
            assert function.layer_dirs == [REPO / "layers" / "common"]
        assert functions["IngestFunction"].environment["STATE_MACHINE_ARN"] == studio.state_machine_arn

    def test_template_secret_holds_the_simulator_key(self, studio: LocalStudio) -> None:
        secret_arn = studio.stack.outputs["AiutaApiKeySecret"]
        value = studio.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
        assert json.loads(value) == {"api_key": studio.simulator.api_key}
        assert {f.environment["AIUTA_API_KEY_SECRET"] for f in studio.lambdas.functions} == {secret_arn}

    def test_resources_moto_cannot_enforce_are_listed_not_skipped_silently(self, studio: LocalStudio) -> None:
        left_out = {kind for _, kind, _ in studio.left_out()}
        assert "AWS::SQS::QueuePolicy" in left_out
        assert "AWS::CloudWatch::Alarm" in left_out
        summary = studio.summary()
        for text in (
            "IngestQueuePolicy",
            "not enforced",
            studio.endpoint_url,
            studio.simulator_url,
            studio.bucket,
        ):
            assert text in summary

    def test_env_file_gives_a_shell_the_stack(self, studio: LocalStudio, tmp_path: Path) -> None:
        # When the env file is written and a shell sources it
        path = studio.write_env_file(tmp_path / "studio-local.env")
        command = ["bash", "-c", f'. "{path}" && env']
        shown = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
        seen = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
        # Then the shell has every variable, and boto3 configured from them reaches the stack
        expected = studio.environment()
        assert {name: seen.get(name) for name in expected} == expected
        client_kwargs = {
            "endpoint_url": seen["AWS_ENDPOINT_URL"],
            "region_name": seen["AWS_DEFAULT_REGION"],
            "aws_access_key_id": seen["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": seen["AWS_SECRET_ACCESS_KEY"],
        }
        boto3.client("s3", **client_kwargs).head_bucket(Bucket=seen["STUDIO_BUCKET"])
        boto3.client("stepfunctions", **client_kwargs).describe_state_machine(
            stateMachineArn=seen["STUDIO_STATE_MACHINE_ARN"]
        )

    def test_an_upload_under_inbox_reaches_the_ingest_function(self, studio: LocalStudio) -> None:
        # Given the stack idle (the s3:TestEvent from configuring the notification delivered)
        poller = studio.pollers[0]
        wait_for(lambda: poller.stats.messages >= 1, what="the s3:TestEvent to be delivered")
        before = studio.invocation_counts()["IngestFunction"]
        # When a photo is put under inbox/
        studio.client("s3").put_object(
            Bucket=studio.bucket, Key="inbox/smoke-1/front.jpg", Body=b"\xff\xd8\xff"
        )
        # Then the ingest function is invoked with an SQS event carrying that S3 event
        wait_for(lambda: studio.invocation_counts()["IngestFunction"] > before, what="an ingest invocation")

        def s3_keys(record: Any) -> list[str]:
            bodies = [json.loads(r["body"]) for r in record.event["Records"] if r["eventSource"] == "aws:sqs"]
            # S3 events carry URL-encoded keys (moto even encodes the slashes).
            return [
                unquote_plus(e["s3"]["object"]["key"]) for body in bodies for e in body.get("Records", [])
            ]

        delivered = wait_for(
            lambda: [
                r
                for r in studio.lambdas.history
                if r.logical_id == "IngestFunction" and "inbox/smoke-1/front.jpg" in s3_keys(r)
            ],
            what="the upload's S3 event in an ingest invocation",
        )
        assert delivered[0].error_type is None


# ------------------------------------------------------------------------------- the fixture template


@pytest.fixture(scope="class")
def fixture_studio() -> Iterator[LocalStudio]:
    yield from started_stack(LocalStudio(FIXTURE / "template.yaml", stack_name="studio-fixture"))


def execution_of(studio: LocalStudio, name: str) -> dict[str, Any]:
    stepfunctions = studio.client("stepfunctions")

    def finished() -> dict[str, Any] | None:
        for execution in stepfunctions.list_executions(stateMachineArn=studio.state_machine_arn)[
            "executions"
        ]:
            if execution["name"] == name and execution["status"] != "RUNNING":
                return stepfunctions.describe_execution(executionArn=execution["executionArn"])
        return None

    return wait_for(finished, what=f"execution {name} to finish")


class TestRuntimeBehaviour:
    def test_task_runs_with_its_layer_and_context(self, fixture_studio: LocalStudio) -> None:
        # When a file lands in the inbox, the fixture ingest starts an execution for it
        s3 = fixture_studio.client("s3")
        s3.put_object(Bucket=fixture_studio.bucket, Key="inbox/sku-1/a.jpg", Body=b"x")
        execution = execution_of(fixture_studio, "inbox-2Fsku-1-2Fa-jpg")
        # Then the task ran the real handler, importing from the layer's directory
        assert execution["status"] == "SUCCEEDED"
        output = json.loads(execution["output"])
        work = next(f for f in fixture_studio.lambdas.functions if f.logical_id == "WorkFunction")
        assert output["layer"] == "from-the-fixture-layer"
        assert output["function_name"] == work.name
        assert output["bucket"] == fixture_studio.bucket
        assert 0 < output["remaining_ms"] <= 20_000

    def test_a_task_error_reaches_catch_by_its_class_name_with_lambdas_cause(
        self, fixture_studio: LocalStudio
    ) -> None:
        # When the task raises WorkRejected (the ASL catches exactly that name)
        s3 = fixture_studio.client("s3")
        s3.put_object(Bucket=fixture_studio.bucket, Key="inbox/sku-reject/a.jpg", Body=b"x")
        execution = execution_of(fixture_studio, "inbox-2Fsku-reject-2Fa-jpg")
        # Then the Catch matched, and the Cause is Lambda's error document
        assert execution["status"] == "SUCCEEDED"
        error = json.loads(execution["output"])["error"]
        assert error["Error"] == "WorkRejected"
        cause = json.loads(error["Cause"])
        assert cause["errorType"] == "WorkRejected"
        assert cause["errorMessage"].startswith("rejected ")
        assert any("lambda_handler" in line for line in cause["stackTrace"])

    def test_wait_until_idle_returns_once_the_flow_has_settled(self, fixture_studio: LocalStudio) -> None:
        # Given an upload that starts an execution
        fixture_studio.client("s3").put_object(
            Bucket=fixture_studio.bucket, Key="inbox/sku-idle/a.jpg", Body=b"x"
        )
        # When the caller waits for the stack to be idle
        fixture_studio.wait_until_idle(timeout=20)
        # Then the execution is over and nothing is left in the queue or the runtime
        stepfunctions = fixture_studio.client("stepfunctions")
        executions = stepfunctions.list_executions(stateMachineArn=fixture_studio.state_machine_arn)[
            "executions"
        ]
        assert {e["status"] for e in executions if e["name"] == "inbox-2Fsku-idle-2Fa-jpg"} == {"SUCCEEDED"}
        assert not any(fixture_studio.pending_work().values())

    @pytest.mark.slow
    def test_reported_failures_come_back_then_go_to_the_dead_letter_queue(
        self, fixture_studio: LocalStudio
    ) -> None:
        # Given a queue with a 2 s visibility timeout and maxReceiveCount 2 (fixture template)
        sqs = fixture_studio.client("sqs")
        dead_letters = fixture_studio.dead_letter_queue_url
        assert dead_letters is not None
        before = fixture_studio.invocation_counts()["IngestFunction"]
        # When the ingest reports the upload's message in batchItemFailures every time
        fixture_studio.client("s3").put_object(
            Bucket=fixture_studio.bucket, Key="inbox/sku-fail/a.jpg", Body=b"x"
        )

        def dead_lettered() -> bool:
            attributes = sqs.get_queue_attributes(
                QueueUrl=dead_letters, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            return int(attributes["ApproximateNumberOfMessages"]) >= 1

        # Then it is redelivered after the visibility timeout, and moved to the DLQ after 2 receives
        wait_for(dead_lettered, timeout=20, what="the failed message in the DLQ")
        assert fixture_studio.invocation_counts()["IngestFunction"] - before >= 2
        message = sqs.receive_message(QueueUrl=dead_letters, MessageAttributeNames=["All"])["Messages"][0]
        assert json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"] == "inbox%2Fsku-fail%2Fa.jpg"


def test_an_unknown_resource_type_stops_the_start_and_leaves_nothing_running(tmp_path: Path) -> None:
    # Given the fixture template plus a resource type the local stack has no row for
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    template = project / "template.yaml"
    text = template.read_text().replace(
        "\nOutputs:", "\n  Pipe:\n    Type: AWS::Pipes::Pipe\n    Properties: {}\n\nOutputs:", 1
    )
    template.write_text(text)
    threads_before = set(threading.enumerate())
    studio = LocalStudio(template, stack_name="studio-refused")
    # When it starts, it refuses with the resource and its type named
    with pytest.raises(UnsupportedResourceError, match=r"Pipe \(AWS::Pipes::Pipe\)"):
        studio.start()
    # And what it had started is stopped again
    assert_fully_stopped(studio, threads_before)


SERVE_SCRIPT = """
import sys, threading
from studio_local import LocalStudio

studio = LocalStudio(sys.argv[1], stack_name="studio-serve").start()
studio.write_env_file(sys.argv[2])
studio.serve_forever(on_serving=lambda: print("ready", flush=True))
alive = sorted(t.name for t in threading.enumerate() if t is not threading.main_thread())
print("stopped", alive, flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_forever_stops_cleanly_on_a_signal(tmp_path: Path, signum: int) -> None:
    # Given `serve_forever` running in its own process, as `studio local up` runs it
    env_file = tmp_path / "studio.env"
    command = [sys.executable, "-c", SERVE_SCRIPT, str(FIXTURE / "template.yaml"), str(env_file)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        assert "AWS_ENDPOINT_URL=" in env_file.read_text()
        # When it gets the signal
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Then it stopped everything it ran and exited normally
    assert process.returncode == 0
    assert output.strip() == "stopped []"
