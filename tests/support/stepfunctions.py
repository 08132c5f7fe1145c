"""Run the studio job state machine in moto's Step Functions interpreter, Lambdas served in-process.

moto (5.2.x) executes real ASL only under ``mock_aws(config={"stepfunctions": {"execute_state_machine":
True}})``, and it runs Lambda code only in Docker, which is not here. ``serve_lambdas`` fills that gap:
it routes moto's Lambda invocations (through `studio_local.moto_internals.route_lambda_invocations`, the
one hook the local stack uses too) so each function it knows is answered by a Python callable here.

The contract of the patched method (read from moto 5.2.5's ``awslambda/responses.py``,
``awslambda/models.py`` and ``stepfunctions/parser/asl/component/state/exec/state_task/``):

- Signature: ``invoke(self, function_name, qualifier, body, headers, response_headers) -> bytes``.
  ``function_name`` is what the caller named, for a Task an ARN taken from the request path;
  ``body`` is the payload, JSON text (``str`` or ``bytes``); ``headers`` the request's headers.
- A Task whose ``Resource`` is a function ARN calls ``lambda.invoke(FunctionName=arn, Payload=<the
  state input as JSON>)`` through boto3 (moto intercepts it in-process), so the whole state goes in,
  and the returned bytes, parsed as JSON, become the state's output: return JSON text.
- An error is signalled the way the Lambda runtime does: set ``response_headers["x-amz-function-error"]
  = "Unhandled"`` and return ``{"errorType": <name>, "errorMessage": ..., "stackTrace": [...]}``.
  The interpreter turns that into a failure whose Error is ``errorType`` and whose Cause is the whole
  payload as compact JSON, exactly as AWS reports a Python exception; Retry and Catch match on it.
- SQS event source mappings call the same method, once per message, with ``body`` the JSON of
  ``{"Records": [<one record>]}``; any ``x-amz-function-error`` marks the delivery failed (moto does
  not read ``batchItemFailures``). S3 -> Lambda notifications use ``LambdaFunction.invoke`` instead
  and are not served here.

Handlers have the real Lambda signature ``handler(event, context)``, so a test can serve the
project's own ``functions/<name>/app.lambda_handler`` the same way as a scripted fake. A handler's
exception becomes an error named after its class, as in Lambda's Python runtime.

Moto's interpreter really sleeps in Wait states and between retries: keep ``poll.wait_seconds`` at 0
and render the definition with ``fast_retries=True`` when a test makes a Task retry.
"""

from __future__ import annotations

import io
import json
import re
import time
import traceback
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from studio_local.moto_internals import route_lambda_invocations

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFINITION_PATH = REPO_ROOT / "statemachine" / "studio_job.asl.json"
REGION = "us-east-1"

# DefinitionSubstitutions key -> the function name the tests give the moto Lambda.
TASK_FUNCTIONS = {
    "SubmitFunctionArn": "submit",
    "CheckStatusFunctionArn": "check_status",
    "FinalizeFunctionArn": "finalize",
    "RegenerateFunctionArn": "regenerate",
    "RecordFailureFunctionArn": "record_failure",
    "PlanCapacityWaitFunctionArn": "plan_capacity_wait",
    "ReviewFunctionArn": "review",
}

Handler = Callable[[dict[str, Any], Any], Any]
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


@dataclass
class FakeLambdaContext:
    """The parts of ``LambdaContext`` that Powertools' decorators read."""

    function_name: str
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class Invocation:
    function_name: str
    event: Any
    error: str | None = None


@dataclass
class LambdaServer:
    """What ``serve_lambdas`` yields: the handlers, and every invocation in order."""

    handlers: dict[str, Handler]
    invocations: list[Invocation] = field(default_factory=list)

    def events_of(self, function_name: str) -> list[Any]:
        return [call.event for call in self.invocations if call.function_name == function_name]

    def names(self) -> list[str]:
        return [call.function_name for call in self.invocations]


def lambda_error_payload(exc: BaseException) -> dict[str, Any]:
    """What the Python runtime returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": FakeLambdaContext.aws_request_id,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


@contextmanager
def serve_lambdas(handlers: Mapping[str, Handler]) -> Iterator[LambdaServer]:
    """Answer moto Lambda invocations of the named functions with ``handlers[name](event, context)``.

    Functions not in ``handlers`` keep moto's default behaviour. Use it inside ``mock_aws``. It goes
    through the same hook as the local stack (``studio_local.moto_internals``).
    """
    server = LambdaServer(dict(handlers))

    def serve(function_name: str, body: Any, headers: Any) -> tuple[bytes, str | None] | None:
        handler = server.handlers.get(function_name)
        if handler is None:
            return None
        event = json.loads(body) if body else {}
        call = Invocation(function_name, event)
        server.invocations.append(call)
        arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"
        context = FakeLambdaContext(function_name, invoked_function_arn=arn)
        try:
            result = handler(event, context)
        except Exception as exc:
            call.error = type(exc).__name__
            return json.dumps(lambda_error_payload(exc)).encode(), call.error
        return json.dumps(result).encode(), None

    undo = route_lambda_invocations(serve)
    try:
        yield server
    finally:
        undo()


def render_definition(substitutions: Mapping[str, str], *, fast_retries: bool = False) -> str:
    """The ASL with every ``${Name}`` replaced, as ``DefinitionSubstitutions`` does at deploy time.

    ``fast_retries`` (tests only) shortens every Retry to 1 s steps without growth, because moto
    sleeps through retry intervals; the real definition's values stay as they are.
    """
    text = DEFINITION_PATH.read_text()
    missing = sorted(set(PLACEHOLDER.findall(text)) - set(substitutions))
    if missing:
        raise KeyError(f"no substitution for {missing}")
    definition = json.loads(PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text))
    if fast_retries:
        for state in definition["States"].values():
            for retrier in state.get("Retry", []):
                retrier.update(IntervalSeconds=1, BackoffRate=1.0, MaxDelaySeconds=1)
    return json.dumps(definition)


def create_task_functions(region: str = REGION) -> dict[str, str]:
    """Creates a moto Lambda per task (named as in ``TASK_FUNCTIONS``); returns the substitutions."""
    iam = boto3.client("iam", region_name=region)
    role = iam.create_role(
        RoleName="studio-test-lambda",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    lambda_client = boto3.client("lambda", region_name=region)
    substitutions = {}
    for key, name in TASK_FUNCTIONS.items():
        created = lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": _placeholder_zip()},
        )
        substitutions[key] = created["FunctionArn"]
    return substitutions


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


def create_state_machine(definition: str, name: str = "studio-job", region: str = REGION) -> str:
    sfn = boto3.client("stepfunctions", region_name=region)
    role = f"arn:aws:iam::123456789012:role/{name}-role"
    return sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"]


def run_execution(
    state_machine_arn: str,
    payload: Mapping[str, Any],
    *,
    name: str = "job-1",
    timeout_seconds: float = 30.0,
    region: str = REGION,
) -> dict[str, Any]:
    """Starts an execution and returns ``describe_execution`` once it has stopped.

    moto runs the execution in a thread; this only waits for that thread, not for simulated time.
    """
    sfn = boto3.client("stepfunctions", region_name=region)
    execution_arn = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
    )["executionArn"]
    deadline = time.monotonic() + timeout_seconds
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout_seconds} s")
        time.sleep(0.02)


def execution_history(execution_arn: str, region: str = REGION) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name=region)
    return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


def entered_states(execution_arn: str, region: str = REGION) -> list[str]:
    """The names of the states the execution entered, in order."""
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in execution_history(execution_arn, region)
        if "stateEnteredEventDetails" in event
    ]
