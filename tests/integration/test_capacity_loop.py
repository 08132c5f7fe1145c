"""No capacity is a wait, not a failure: the studio job state machine's capacity loop in moto.

The real definition runs in moto's interpreter with scripted task Lambdas and the real planner
(``steps.capacity_wait.plan_wait``). A task that answers ``AiutaRateLimited`` or
``CapacityUnavailable``, or is throttled (the Lambda API's 429, which Step Functions names
``Lambda.TooManyRequestsException``), goes to "Plan the wait for capacity", waits, and runs again;
only the job's deadline ends the wait, as TIMED_OUT through Record failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from studio_core.domain.capacity import CapacityTask, CapacityWait
from studio_core.domain.errors import AiutaRateLimited, CapacityUnavailable
from studio_core.domain.polling import PollSettings
from studio_core.domain.state import JobState, OperationRef, PollState, StepStatus
from studio_core.domain.vocabulary import Kind
from studio_core.settings import CapacityWaitSettings
from studio_core.steps.capacity_wait import plan_wait
from studio_core.steps.record_failure import failure_of
from studio_local.moto_internals import (
    TooManyRequestsException,
    map_lambda_api_errors_like_aws,
    route_lambda_invocations,
)
from tests.support.stepfunctions import (
    create_state_machine,
    create_task_functions,
    entered_states,
    render_definition,
    run_execution,
)

SUBMIT = "Submit generation to Aiuta"
CHECK = "Check operation status"
PLAN = "Plan the wait for capacity"
LEFT = "Capacity before the deadline?"
WAIT = "Wait for capacity"
BACK = "Back to the step that waited"
THROTTLED = object()  # a scripted step: the Lambda API throttles the call


class Tasks:
    """Scripted task Lambdas; ``script[name]`` is what their first calls do (an exception, or THROTTLED)."""

    def __init__(self, settings: CapacityWaitSettings, **script: list[Any]) -> None:
        self.settings = settings
        self.script = {name: list(steps) for name, steps in script.items()}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def serve(self, function_name: str, body: Any, headers: Any) -> tuple[bytes, str | None] | None:
        event = json.loads(body) if body else {}
        self.calls.append((function_name, event))
        step = self.script.get(function_name, []).pop(0) if self.script.get(function_name) else None
        if step is THROTTLED:
            raise TooManyRequestsException("Rate Exceeded.")
        if isinstance(step, Exception):
            payload = {"errorType": type(step).__name__, "errorMessage": str(step), "stackTrace": []}
            return json.dumps(payload).encode(), type(step).__name__
        handler: Callable[[dict[str, Any]], dict[str, Any]] = getattr(self, function_name)
        return json.dumps(handler(event)).encode(), None

    def plan_capacity_wait(self, event: dict[str, Any]) -> dict[str, Any]:
        return plan_wait(event, settings=self.settings)

    def submit(self, event: dict[str, Any]) -> dict[str, Any]:
        state = JobState.model_validate(event)
        state.operations = [OperationRef(kind=Kind.ON_FIGURE, operation_id="op-1")]
        now = datetime.now(UTC)
        state.poll = PollState(wait_seconds=0, started_at=now, deadline=now + timedelta(hours=1))
        state.status = StepStatus.WAITING
        return state.to_output()

    def check_status(self, event: dict[str, Any]) -> dict[str, Any]:
        state = JobState.model_validate(event)
        state.status = StepStatus.READY
        return state.to_output()

    def finalize(self, event: dict[str, Any]) -> dict[str, Any]:
        state = JobState.model_validate(event)
        state.status = StepStatus.SUCCEEDED
        return state.to_output()

    def regenerate(self, event: dict[str, Any]) -> dict[str, Any]:
        return event

    def record_failure(self, event: dict[str, Any]) -> dict[str, Any]:
        state = JobState.model_validate(event)
        state.failure = failure_of(state)
        state.failure_reason = state.failure.cause
        state.status = StepStatus.TIMED_OUT if state.status is StepStatus.TIMED_OUT else StepStatus.FAILED
        return state.to_output()

    def events_of(self, name: str) -> list[dict[str, Any]]:
        return [event for function, event in self.calls if function == name]


def job_input() -> dict[str, Any]:
    state = JobState.model_validate(
        {
            "job_id": "sku-1-0123456789abcdef",
            "product_id": "sku-1",
            "job": {
                "kind": ["on_figure"],
                "image_types": {"on_figure": [{"viewpoint": "front", "pose": "standing"}]},
            },
        }
    ).to_output()
    # Only the fields a new job's execution input has (ingest starts it from the same model).
    return {key: value for key, value in state.items() if value is not None}


@pytest.fixture
def substitutions() -> Iterator[dict[str, str]]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        map_lambda_api_errors_like_aws()
        try:
            yield create_task_functions()
        finally:
            map_lambda_api_errors_like_aws(enable=False)


def run(substitutions: dict[str, str], tasks: Tasks) -> tuple[dict[str, Any], list[str]]:
    undo = route_lambda_invocations(tasks.serve)
    try:
        machine = create_state_machine(render_definition(substitutions))
        described = run_execution(machine, job_input(), timeout_seconds=60)
    finally:
        undo()
    return described, entered_states(described["executionArn"])


FAST = CapacityWaitSettings(capacity_wait_max_seconds=1)


@pytest.mark.slow
def test_a_429_at_submit_waits_for_capacity_and_the_job_goes_on(substitutions: dict[str, str]) -> None:
    # Given Aiuta answers the create 429 twice (it did nothing: the job must not fail for it)
    limited = AiutaRateLimited("POST /on_figure_operations: rate limited by Aiuta; retry after 1 s")
    tasks = Tasks(FAST, submit=[limited, limited])

    # When the job runs
    described, states = run(substitutions, tasks)

    # Then it waited for capacity twice, in its own loop, and went on to succeed
    assert described["status"] == "SUCCEEDED"
    loop = [SUBMIT, PLAN, LEFT, WAIT, BACK]
    assert states[1:12] == [*loop, *loop, SUBMIT]
    # And the console shows what it waited for; the step that waited got back exactly its state
    second_plan = tasks.events_of("plan_capacity_wait")[1]
    waited = CapacityWait.model_validate(second_plan["capacity"])
    assert waited.attempt == 1 and waited.task == "submit"
    assert "retry after 1 s" in waited.reason
    assert set(second_plan["capacity_error"]) == {"submit"}
    retried = tasks.events_of("submit")[2]
    assert retried["capacity"]["attempt"] == 2 and "capacity_error" not in retried
    assert JobState.model_validate(retried).model_dump() == JobState.model_validate(job_input()).model_dump()
    assert "capacity" not in json.loads(described["output"])


def test_a_throttled_status_check_waits_and_checks_again(substitutions: dict[str, str]) -> None:
    # Given the check_status function is at its reserved concurrency for its first call
    tasks = Tasks(FAST, check_status=[THROTTLED])

    # When the job runs
    described, states = run(substitutions, tasks)

    # Then the throttle (Lambda.TooManyRequestsException) sent it around the capacity loop, back to the check
    assert described["status"] == "SUCCEEDED"
    at = states.index(CHECK)
    assert states[at : at + 6] == [CHECK, PLAN, LEFT, WAIT, BACK, CHECK]
    caught = tasks.events_of("plan_capacity_wait")[0]["capacity_error"]["check_status"]
    assert caught["Error"] == "Lambda.TooManyRequestsException"


@pytest.mark.slow
def test_no_capacity_until_the_deadline_ends_the_job_timed_out_with_the_reason(
    substitutions: dict[str, str],
) -> None:
    # Given the pipeline's operations in flight stay full, and a job deadline of 2 s
    full = CapacityUnavailable("10 Aiuta operations are in flight, the most the pipeline may have")
    settings = CapacityWaitSettings(
        capacity_wait_max_seconds=1, poll=PollSettings(deadline_online_seconds=2, min_wait_seconds=0)
    )
    tasks = Tasks(settings, submit=[full] * 10)

    # When the job runs
    described, states = run(substitutions, tasks)

    # Then it waited until its deadline, then ended TIMED_OUT through Record failure, with the reason
    assert described["status"] == "FAILED"
    assert states[-3:] == ["Record failure", "Failed or timed out?", "Job timed out"]
    assert states.count(WAIT) >= 1
    assert described["error"] == "JobTimedOut"
    assert "no capacity at Aiuta before the job's deadline" in described["cause"]
    assert "operations are in flight" in described["cause"]


@pytest.mark.slow
def test_a_planner_that_runs_out_of_time_is_run_again_and_the_job_goes_on(
    substitutions: dict[str, str],
) -> None:
    # Given the submit finds no capacity once, and the planner's first call times out (a stalled
    # waiting room): planning sends nothing to Aiuta, so the job must not fail for it
    limited = AiutaRateLimited("POST /on_figure_operations: rate limited by Aiuta; retry after 1 s")
    timed_out = type("Sandbox.Timedout", (Exception,), {})("Task timed out after 10.00 seconds")
    tasks = Tasks(FAST, submit=[limited], plan_capacity_wait=[timed_out])

    # When the job runs
    described, states = run(substitutions, tasks)

    # Then the planner ran again, the job waited for capacity and succeeded
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert len(tasks.events_of("plan_capacity_wait")) == 2
    assert states[1:7] == [SUBMIT, PLAN, LEFT, WAIT, BACK, SUBMIT]


class UnreachableRoom:
    """A waiting room whose table does not answer (throttled, or a network fault)."""

    def turn(self, task: CapacityTask, latest: float) -> float | None:
        error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
        raise ClientError(error, "UpdateItem")

    def note_create_waiting(self, until: float) -> None:
        self.turn(CapacityTask.SUBMIT, until)


def test_without_an_answer_from_the_waiting_room_the_job_backs_off_instead() -> None:
    # Given a job whose submit Aiuta refused (429, retry after 3 s), and a waiting room that fails
    limited = {"Error": "AiutaRateLimited", "Cause": '{"errorMessage": "rate limited; retry after 3 s"}'}
    event = {**job_input(), "capacity_error": {"submit": limited}}

    # When its wait is planned
    planned = plan_wait(event, settings=FAST, room=UnreachableRoom())  # type: ignore[arg-type]

    # Then it still waits (Retry-After plus backoff), instead of failing the job
    wait = CapacityWait.model_validate(planned["capacity"])
    assert wait.task == "submit" and wait.attempt == 1
    assert 3 <= wait.wait_seconds <= 5
    assert planned.get("status") != "TIMED_OUT"
