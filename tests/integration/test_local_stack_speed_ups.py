"""The local stack's speed-ups (``moto_internals.speed_up_hot_paths``) change no answer.

The one that could: every execution of a state machine shares one parsed program. Each execution
must still keep its own state (its retry counts, its data), even when several run at once.
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
from tests.stepfunctions_helpers import REGION, create_state_machine, create_task_functions

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
