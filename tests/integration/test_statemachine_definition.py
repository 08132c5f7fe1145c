"""The studio job state machine: its structure, and real executions in moto's ASL interpreter.

The structural tests read ``statemachine/studio_job.asl.json`` as data. The execution tests run it in
moto (``execute_state_machine``) with scripted stand-ins for the five task Lambdas, served in-process
by ``tests/support/stepfunctions.serve_lambdas``; they prove the interpreter takes every path the
workflow promises: polling, regeneration, retries, and every failure ending in "Record failure".
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from studio_core.domain import errors
from studio_core.domain.capacity import CAPACITY_ERRORS as CAPACITY_ERROR_NAMES
from studio_core.domain.capacity import CapacityTask
from studio_core.domain.state import JobState, OperationRef, PendingRound, PollState, ReviewStep, StepStatus
from studio_core.domain.vocabulary import Kind
from studio_core.settings import CapacityWaitSettings
from studio_core.steps.capacity_wait import plan_wait
from studio_core.steps.record_failure import failure_of
from studio_local.moto_internals import pass_task_failure_causes
from tests.support.stepfunctions import (
    DEFINITION_PATH,
    REGION,
    TASK_FUNCTIONS,
    LambdaServer,
    create_state_machine,
    create_task_functions,
    entered_states,
    render_definition,
    run_execution,
    serve_lambdas,
)

START = "New job or regeneration request?"
SUBMIT = "Submit generation to Aiuta"
WAIT = "Wait for Aiuta"
CHECK = "Check operation status"
FINISHED = "Is the generation finished?"
COPY = "Copy results to S3"
ANOTHER_ROUND = "Another regeneration round?"
REGENERATE = "Start regeneration round"
RECORD_FAILURE = "Record failure"
SUCCEEDED = "Job succeeded"
PARTLY_SUCCEEDED = "Job partly succeeded"
FAILED_OR_TIMED_OUT = "Failed or timed out?"
FAILED = "Job failed"
TIMED_OUT = "Job timed out"
CANCELLED = "Job cancelled"
PLAN_CAPACITY = "Plan the wait for capacity"
CAPACITY_LEFT = "Capacity before the deadline?"
WAIT_CAPACITY = "Wait for capacity"
BACK_TO_STEP = "Back to the step that waited"
WAIT_REVIEW = "Wait for review"
APPLY_DECISION = "Apply the review decision"
DECIDED = "What did the review decide?"
PUBLISH = "Publish approved images"
DEADLINE = "Close the review at its deadline"
ENDED_REVIEW = "Did every part succeed?"
REVIEW_TASKS = {WAIT_REVIEW, APPLY_DECISION, PUBLISH, DEADLINE}

LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
]
AIUTA_RETRYABLE = ["AiutaRetryableError", "AiutaServerError", "AiutaConnectionError"]
# No capacity is not a fault to retry a few times but a wait (domain.capacity, steps.capacity_wait).
CAPACITY_ERRORS = ["AiutaRateLimited", "CapacityUnavailable", "Lambda.TooManyRequestsException"]


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return json.loads(DEFINITION_PATH.read_text())


def tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in definition["States"].items() if state["Type"] == "Task"}


def transitions(state: dict[str, Any]) -> list[str]:
    targets = [state.get("Next"), state.get("Default")]
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    targets += [catcher["Next"] for catcher in state.get("Catch", [])]
    return [target for target in targets if target]


# ---------------------------------------------------------------- structure


def test_states_are_the_documented_workflow(definition: dict[str, Any]) -> None:
    assert definition["StartAt"] == START
    assert definition["Comment"]
    assert set(definition["States"]) == {
        START, SUBMIT, WAIT, CHECK, FINISHED, COPY, ANOTHER_ROUND, REGENERATE, RECORD_FAILURE,
        FAILED_OR_TIMED_OUT, SUCCEEDED, PARTLY_SUCCEEDED, FAILED, TIMED_OUT, CANCELLED,
        PLAN_CAPACITY, CAPACITY_LEFT, WAIT_CAPACITY, BACK_TO_STEP,
        WAIT_REVIEW, APPLY_DECISION, DECIDED, PUBLISH, DEADLINE, ENDED_REVIEW,
    }  # fmt: skip


def test_a_regeneration_request_starts_at_its_round_and_a_new_job_at_submit(
    definition: dict[str, Any],
) -> None:
    start = definition["States"][START]

    assert start["Type"] == "Choice"
    resume, regeneration, queued = start["Choices"]
    # A new job whose wait ingest already planned waits for its turn before it submits
    assert queued == {"Variable": "$.capacity.task", "IsPresent": True, "Next": "Wait for capacity"}
    # A nested field: a state always carries resume (null for a new job), and IsPresent is true for null
    assert resume == {"Variable": "$.resume.attempt", "IsPresent": True, "Next": CHECK}
    assert regeneration["Next"] == REGENERATE
    assert regeneration["Variable"] == "$.pending_round.reason" and regeneration["IsPresent"] is True
    assert start["Default"] == SUBMIT
    assert {"pending_round", "resume"} <= set(JobState.model_fields)


def test_every_transition_points_to_a_state_and_every_state_is_reachable(definition: dict[str, Any]) -> None:
    states = definition["States"]
    for name, state in states.items():
        for target in transitions(state):
            assert target in states, f"{name} -> {target}: no such state"
        assert state["Type"] in {"Succeed", "Fail"} or transitions(state), f"{name} leads nowhere"

    reached, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(transitions(states[name]))
    assert reached == set(states)


def test_every_state_says_why_in_a_comment(definition: dict[str, Any]) -> None:
    for name, state in definition["States"].items():
        assert state.get("Comment"), f"{name} has no Comment"
    assert "SecondsPath" in definition["States"][WAIT]["Comment"]


def test_tasks_call_the_functions_directly(definition: dict[str, Any]) -> None:
    # Given the Task states of the generation (the review's have a shape of their own, below)
    job_tasks = {name: state for name, state in tasks(definition).items() if name not in REVIEW_TASKS}
    resources = {name: state["Resource"] for name, state in job_tasks.items()}

    # Then each is one function's ARN placeholder, with the whole state in and out (no reshaping)
    assert sorted(resources.values()) == sorted(
        f"${{{key}}}" for key in TASK_FUNCTIONS if key != "ReviewFunctionArn"
    )
    for name, state in job_tasks.items():
        for reshaping in ("Parameters", "ResultSelector", "ResultPath", "InputPath", "OutputPath"):
            assert reshaping not in state, f"{name} reshapes the state with {reshaping}"


TASK_CAPACITY_KEYS = {SUBMIT: "submit", CHECK: "check_status", COPY: "finalize", REGENERATE: "regenerate"}


@pytest.mark.parametrize("name", [SUBMIT, CHECK, COPY, REGENERATE])
def test_tasks_retry_passing_faults_and_catch_everything_else(definition: dict[str, Any], name: str) -> None:
    state = definition["States"][name]

    def policy(retrier: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in retrier.items() if key != "Comment"}

    lambda_retry, aiuta_retry, *timed_out = state["Retry"]
    # Only the check, which reads and records, is run again after a timeout; a create never is
    assert [r["ErrorEquals"] for r in timed_out] == ([["Sandbox.Timedout"]] if name == CHECK else [])
    assert policy(lambda_retry) == {
        "ErrorEquals": LAMBDA_ERRORS,
        "IntervalSeconds": 1,
        "MaxAttempts": 3,
        "BackoffRate": 2,
        "MaxDelaySeconds": 30,
        "JitterStrategy": "FULL",
    }
    assert policy(aiuta_retry) == {
        "ErrorEquals": AIUTA_RETRYABLE,
        "IntervalSeconds": 2,
        "MaxAttempts": 4,
        "BackoffRate": 2,
        "MaxDelaySeconds": 60,
        "JitterStrategy": "FULL",
    }

    capacity, everything_else = state["Catch"]
    assert capacity == {
        "Comment": capacity["Comment"],
        "ErrorEquals": CAPACITY_ERRORS,
        "ResultPath": f"$.capacity_error.{TASK_CAPACITY_KEYS[name]}",
        "Next": PLAN_CAPACITY,
    }
    assert everything_else == {
        "Comment": everything_else["Comment"],
        "ErrorEquals": ["States.ALL"],
        "ResultPath": "$.error",
        "Next": RECORD_FAILURE,
    }
    assert "terminal" in everything_else["Comment"] or "Record failure" in everything_else["Comment"]


def test_no_capacity_waits_in_a_loop_of_its_own_and_goes_back_to_the_step(definition: dict[str, Any]) -> None:
    states = definition["States"]
    plan, left, wait, back = (states[n] for n in (PLAN_CAPACITY, CAPACITY_LEFT, WAIT_CAPACITY, BACK_TO_STEP))

    # The planner takes the whole state and answers it with $.capacity, or without it at the deadline
    assert plan["Next"] == CAPACITY_LEFT
    assert plan["Catch"][0]["Next"] == RECORD_FAILURE
    assert "Lambda.TooManyRequestsException" in plan["Retry"][0]["ErrorEquals"]
    assert left["Choices"] == [{"Variable": "$.capacity", "IsPresent": True, "Next": WAIT_CAPACITY}]
    assert left["Default"] == RECORD_FAILURE
    assert wait == {**wait, "Type": "Wait", "SecondsPath": "$.capacity.wait_seconds", "Next": BACK_TO_STEP}
    # And each step whose Catch sent the job here is where it goes back to
    routes = {choice["StringEquals"]: choice["Next"] for choice in back["Choices"]}
    assert all(choice["Variable"] == "$.capacity.task" for choice in back["Choices"])
    assert routes == {key: name for name, key in TASK_CAPACITY_KEYS.items()}
    assert set(routes) == {task.value for task in CapacityTask}
    assert back["Default"] == RECORD_FAILURE


def test_record_failure_retries_but_never_catches_into_itself(definition: dict[str, Any]) -> None:
    state = definition["States"][RECORD_FAILURE]

    assert "Catch" not in state
    assert state["Retry"], "the last step must try harder, not give up at the first fault"
    assert state["Retry"][-1]["ErrorEquals"] == ["States.ALL"]
    assert state["Next"] == FAILED_OR_TIMED_OUT
    assert "Catch" in state["Comment"]


def test_retried_error_names_are_exception_classes_and_cover_every_retryable_one(
    definition: dict[str, Any],
) -> None:
    # Given the error names the Retry blocks list (other than Lambda's, its runtime's and States')
    named = {
        error
        for state in definition["States"].values()
        for retrier in state.get("Retry", [])
        for error in retrier["ErrorEquals"]
        if not error.startswith(("Lambda.", "States.", "Sandbox."))
    }
    classes = {name for name, value in inspect.getmembers(errors, inspect.isclass)}
    retryable = {
        name
        for name, value in inspect.getmembers(errors, inspect.isclass)
        if issubclass(value, errors.AiutaRetryableError)
    }

    caught_for_capacity = {
        error
        for state in definition["States"].values()
        for catcher in state.get("Catch", [])
        if catcher["Next"] == PLAN_CAPACITY
        for error in catcher["ErrorEquals"]
    }

    # Then each is a class in studio_core.domain.errors, and no retryable class is missing: a 429
    # (AiutaRateLimited) waits for capacity instead of being retried a fixed number of times
    assert named <= classes
    assert retryable == set(AIUTA_RETRYABLE) | {"AiutaRateLimited"}
    assert caught_for_capacity == set(CAPACITY_ERRORS) == set(CAPACITY_ERROR_NAMES)
    assert caught_for_capacity - {"Lambda.TooManyRequestsException"} <= classes


def test_wait_takes_its_time_from_the_state(definition: dict[str, Any]) -> None:
    wait = definition["States"][WAIT]

    assert wait["Type"] == "Wait"
    assert wait["SecondsPath"] == "$.poll.wait_seconds"
    assert "Seconds" not in wait
    assert "wait_seconds" in PollState.model_fields


def test_choices_branch_on_the_step_statuses(definition: dict[str, Any]) -> None:
    finished = definition["States"][FINISHED]
    another = definition["States"][ANOTHER_ROUND]

    def routes(state: dict[str, Any]) -> dict[str, str]:
        assert all(choice["Variable"] == "$.status" for choice in state["Choices"])
        return {choice["StringEquals"]: choice["Next"] for choice in state["Choices"]}

    assert routes(finished) == {StepStatus.WAITING: WAIT, StepStatus.READY: COPY}
    assert finished["Default"] == RECORD_FAILURE
    assert routes(another) == {
        StepStatus.REGENERATE: REGENERATE,
        StepStatus.AWAITING_REVIEW: WAIT_REVIEW,
        StepStatus.PUBLISH: PUBLISH,
        StepStatus.SUCCEEDED: SUCCEEDED,
        StepStatus.PARTIAL: PARTLY_SUCCEEDED,
        StepStatus.CANCELLED: CANCELLED,
    }
    assert another["Default"] == RECORD_FAILURE


def test_failed_and_timed_out_jobs_end_in_fail_states_of_their_own(definition: dict[str, Any]) -> None:
    states = definition["States"]
    choice = states[FAILED_OR_TIMED_OUT]
    failed, timed_out = states[FAILED], states[TIMED_OUT]

    assert states[RECORD_FAILURE]["Next"] == FAILED_OR_TIMED_OUT
    assert choice["Choices"] == [
        {"Variable": "$.status", "StringEquals": StepStatus.CANCELLED, "Next": CANCELLED},
        {"Variable": "$.status", "StringEquals": StepStatus.TIMED_OUT, "Next": TIMED_OUT},
        {"Variable": "$.status", "StringEquals": StepStatus.PARTIAL, "Next": PARTLY_SUCCEEDED},
    ]
    # A partly succeeded job delivered images: a Succeed state, so nobody re-runs (and pays for) it
    assert states[PARTLY_SUCCEEDED]["Type"] == "Succeed"
    assert choice["Default"] == FAILED
    assert failed["Type"] == timed_out["Type"] == states[CANCELLED]["Type"] == "Fail"
    assert failed["ErrorPath"] == states[CANCELLED]["ErrorPath"] == "$.failure.error"
    assert failed["CausePath"] == timed_out["CausePath"] == "$.failure.cause"
    # The Fail states' error names are the workflow's own error classes
    assert timed_out["Error"] == errors.JobTimedOut.__name__
    assert "failure" in JobState.model_fields


# ---------------------------------------------------------------- executions in moto


class ScriptedTasks:
    """Stand-ins for the five task Lambdas, each taking and returning a ``JobState``.

    ``script[name]`` lists what the first calls do: a ``StepStatus`` to set, or an exception to raise.
    Unscripted calls take the happy path. Every input is validated as a ``JobState``, so a definition
    that reshaped the state between tasks would fail here.
    """

    def __init__(self, **script: list[StepStatus | Exception]) -> None:
        self.script = {name: list(steps) for name, steps in script.items()}
        self.tokens: list[str] = []  # what "Wait for review" was given, in order
        self.review_deadline_seconds = 60

    def handlers(self) -> dict[str, Any]:
        return {name: self._handler(name) for name in TASK_FUNCTIONS.values()}

    def _handler(self, name: str) -> Any:
        if name == "review":
            return self._review
        if name == "plan_capacity_wait":
            return lambda event, context: plan_wait(
                event, settings=CapacityWaitSettings(capacity_wait_max_seconds=1)
            )

        def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
            state = JobState.model_validate(event)
            step = self.script.get(name, []).pop(0) if self.script.get(name) else None
            if isinstance(step, Exception):
                raise step
            return getattr(self, name)(state, step).to_output()

        return handle

    @staticmethod
    def _poll_now() -> PollState:
        now = datetime.now(UTC)
        return PollState(wait_seconds=0, started_at=now, deadline=now + timedelta(hours=1))

    def submit(self, state: JobState, step: StepStatus | None) -> JobState:
        state.operations = [OperationRef(kind=Kind.ON_FIGURE, operation_id="op-round-0")]
        state.poll = self._poll_now()
        state.status = step or StepStatus.WAITING
        return state

    def check_status(self, state: JobState, step: StepStatus | None) -> JobState:
        if state.poll is None:  # a resumed job: the check starts a fresh schedule
            assert state.resume is not None
            state.poll = self._poll_now()
        state.poll.attempt += 1
        state.status = step or StepStatus.READY
        if state.status in {StepStatus.FAILED, StepStatus.TIMED_OUT}:
            state.failure_reason = f"the operation ended {state.status.value}"
        return state

    def finalize(self, state: JobState, step: StepStatus | None) -> JobState:
        state.images_copied += 1
        state.status = step or StepStatus.SUCCEEDED
        if state.status in (StepStatus.AWAITING_REVIEW, StepStatus.PUBLISH):
            state.review = ReviewStep(mode="required", deadline_seconds=self.review_deadline_seconds)
        if state.status is StepStatus.REGENERATE:
            state.pending_round = PendingRound(
                image_types=["back/walking"], reason="the job asks for a round"
            )
        return state

    def regenerate(self, state: JobState, step: StepStatus | None) -> JobState:
        state.round += 1
        state.operations.append(OperationRef(kind=Kind.ON_FIGURE, operation_id="op-regen", round=state.round))
        state.pending_round = None
        state.poll = self._poll_now()
        state.status = step or StepStatus.WAITING
        return state

    def _review(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The review function: "Wait for review" keeps its token; the others take $.state."""
        if event["task"] == "await_review":
            assert set(event) == {"task", "task_token", "job_id", "round", "deadline_seconds"}
            self.tokens.append(event["task_token"])
            return {"awaiting_review": True}
        state = JobState.model_validate(event["state"])
        scripted = self.script.get(event["task"])
        step = scripted.pop(0) if scripted else None
        if event["task"] == "apply_decision":
            assert state.review is not None and state.review.decision == {"decision_id": "d-1"}
            state.status = step or StepStatus.PUBLISH
            if state.status is StepStatus.REGENERATE:
                state.pending_round = PendingRound(image_types=["back/walking"], reason="review decision d-1")
            state.review.decision = None
        else:  # publish_approved, close_expired_review
            state.status = step or StepStatus.SUCCEEDED
        return state.to_output()

    def record_failure(self, state: JobState, step: StepStatus | None) -> JobState:
        state.failure = failure_of(state)
        state.failure_reason = state.failure.cause
        state.status = StepStatus.TIMED_OUT if state.status is StepStatus.TIMED_OUT else StepStatus.FAILED
        return state


FRONT_STANDING = {"viewpoint": "front", "pose": "standing"}


def job_input(**fields: Any) -> dict[str, Any]:
    return JobState.model_validate(
        {
            "job_id": "sku-123-0123456789abcdef",
            "product_id": "sku-123",
            "job": {"kind": ["on_figure"], "image_types": {"on_figure": [FRONT_STANDING]}},
            "input_keys": ["inbox/sku-123/front.jpg"],
            **fields,
        }
    ).to_output()


@pytest.fixture
def studio_sfn() -> Iterator[dict[str, str]]:
    """moto with the Step Functions interpreter on, and a moto Lambda per task; yields the substitutions."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield create_task_functions()


def execute(
    substitutions: dict[str, str],
    tasks: ScriptedTasks,
    *,
    fast_retries: bool = False,
    execution_input: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[str], LambdaServer]:
    with serve_lambdas(tasks.handlers()) as server:
        machine = create_state_machine(render_definition(substitutions, fast_retries=fast_retries))
        described = run_execution(machine, execution_input or job_input())
    return described, entered_states(described["executionArn"]), server


def test_a_job_polls_until_ready_then_copies_and_succeeds(studio_sfn: dict[str, str]) -> None:
    # Given Aiuta is still working at the first check, and done at the second
    tasks = ScriptedTasks(check_status=[StepStatus.WAITING, StepStatus.READY])

    # When the real definition (with its MaxDelaySeconds and JitterStrategy) runs
    described, states, server = execute(studio_sfn, tasks)

    # Then the execution walks the poll loop twice and ends in "Job succeeded" with the final state
    assert described["status"] == "SUCCEEDED"
    assert states == [
        START,
        SUBMIT,
        WAIT,
        CHECK,
        FINISHED,
        WAIT,
        CHECK,
        FINISHED,
        COPY,
        ANOTHER_ROUND,
        SUCCEEDED,
    ]
    assert server.names() == ["submit", "check_status", "check_status", "finalize"]
    output = JobState.model_validate_json(described["output"])
    assert output.status is StepStatus.SUCCEEDED
    assert output.poll is not None and output.poll.attempt == 2


def test_a_regeneration_round_goes_back_into_the_poll_loop(studio_sfn: dict[str, str]) -> None:
    # Given finalize asks for one more round, then is satisfied
    tasks = ScriptedTasks(finalize=[StepStatus.REGENERATE, StepStatus.SUCCEEDED])

    # When the job runs
    described, states, server = execute(studio_sfn, tasks)

    # Then the round is started and polled like the first one
    assert described["status"] == "SUCCEEDED"
    assert states == [
        START, SUBMIT, WAIT, CHECK, FINISHED, COPY, ANOTHER_ROUND,
        REGENERATE, WAIT, CHECK, FINISHED, COPY, ANOTHER_ROUND, SUCCEEDED,
    ]  # fmt: skip
    regenerate_input = JobState.model_validate(server.events_of("regenerate")[0])
    assert regenerate_input.pending_round is not None
    assert JobState.model_validate_json(described["output"]).round == 1


def test_a_passing_aiuta_fault_is_retried(studio_sfn: dict[str, str]) -> None:
    # Given Aiuta answers 5xx twice before it accepts the job
    tasks = ScriptedTasks(
        submit=[errors.AiutaServerError("Aiuta answered 503"), errors.AiutaServerError("Aiuta answered 502")]
    )

    # When the job runs (retry intervals shortened: moto really sleeps)
    described, states, server = execute(studio_sfn, tasks, fast_retries=True)

    # Then the same task is tried three times and the job succeeds without recording a failure
    assert described["status"] == "SUCCEEDED"
    assert server.names()[:3] == ["submit", "submit", "submit"]
    assert [call.error for call in server.invocations[:3]] == ["AiutaServerError", "AiutaServerError", None]
    assert RECORD_FAILURE not in states


def test_when_retries_run_out_the_failure_is_recorded(studio_sfn: dict[str, str]) -> None:
    # Given Aiuta keeps failing: one try plus four retries
    tasks = ScriptedTasks(submit=[errors.AiutaConnectionError("connection reset")] * 5)

    # When the job runs
    described, states, server = execute(studio_sfn, tasks, fast_retries=True)

    # Then, after MaxAttempts, the Catch hands the error to Record failure and the job fails
    assert server.names() == ["submit"] * 5 + ["record_failure"]
    recorded = JobState.model_validate(server.events_of("record_failure")[0])
    assert recorded.error is not None and recorded.error.error == "AiutaConnectionError"
    assert described["status"] == "FAILED"
    assert states[-3:] == [RECORD_FAILURE, FAILED_OR_TIMED_OUT, FAILED]
    assert described["error"] == "AiutaConnectionError"


def test_an_invalid_job_is_caught_recorded_and_fails_the_execution(studio_sfn: dict[str, str]) -> None:
    # Given submit finds the job invalid
    message = "image_types.on_figure[0].viewpoint: 'frnt' is not one of front, back, side"
    tasks = ScriptedTasks(submit=[errors.InvalidJob(message)])

    # When the job runs
    described, states, server = execute(studio_sfn, tasks)

    # Then it is not retried: Record failure gets the job state with the error next to it...
    assert server.names() == ["submit", "record_failure"]
    assert states == [START, SUBMIT, RECORD_FAILURE, FAILED_OR_TIMED_OUT, FAILED]
    recorded = JobState.model_validate(server.events_of("record_failure")[0])
    assert recorded.job_id == "sku-123-0123456789abcdef"
    assert recorded.error is not None
    assert recorded.error.error == "InvalidJob"
    assert json.loads(recorded.error.cause or "")["errorType"] == "InvalidJob"
    assert recorded.error.message == message

    # ...and the execution fails with the recorded reason as its cause
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidJob"
    assert described["cause"] == f"InvalidJob: {message}"


@pytest.mark.parametrize("outcome", [StepStatus.FAILED, StepStatus.TIMED_OUT])
def test_a_failed_or_late_operation_is_recorded(studio_sfn: dict[str, str], outcome: StepStatus) -> None:
    # Given the check finds the operation FAILED at Aiuta, or past the job's deadline
    tasks = ScriptedTasks(check_status=[outcome])

    # When the job runs
    described, states, server = execute(studio_sfn, tasks)

    # Then the Choice's Default sends it to Record failure, which keeps the check's reason,
    # and the execution ends in the Fail state of that outcome, named by the workflow's error class
    end, error = (
        (TIMED_OUT, "JobTimedOut") if outcome is StepStatus.TIMED_OUT else (FAILED, "OperationFailed")
    )
    assert states == [START, SUBMIT, WAIT, CHECK, FINISHED, RECORD_FAILURE, FAILED_OR_TIMED_OUT, end]
    assert JobState.model_validate(server.events_of("record_failure")[0]).status is outcome
    assert described["status"] == "FAILED"
    assert described["error"] == error
    assert described["cause"] == f"the operation ended {outcome.value}"


def test_a_regeneration_request_goes_straight_to_its_round(studio_sfn: dict[str, str]) -> None:
    # Given an execution input with a pending round (what ingest starts for regenerate/<product>.json)
    tasks = ScriptedTasks()
    request = job_input(
        operations=[{"kind": "on_figure", "operation_id": "op-round-0", "status": "SUCCESS"}],
        pending_round={"image_types": ["back/walking"], "reason": "requested"},
    )

    # When it runs
    described, states, server = execute(studio_sfn, tasks, execution_input=request)

    # Then the Choice skips submit: the console shows the regeneration round from the start
    assert described["status"] == "SUCCEEDED"
    assert states[:3] == [START, REGENERATE, WAIT]
    assert "submit" not in server.names()


def test_a_resumed_job_goes_straight_to_checking_its_operations(studio_sfn: dict[str, str]) -> None:
    # Given the input `studio resume` starts (events/resume.json): kept operations, no schedule
    tasks = ScriptedTasks()
    request = job_input(
        operations=[{"kind": "on_figure", "operation_id": "op-round-0", "status": "IN_PROGRESS"}],
        resume={"attempt": 1},
    )

    # When it runs
    described, states, server = execute(studio_sfn, tasks, execution_input=request)

    # Then nothing is submitted again: the first task is the status check
    assert described["status"] == "SUCCEEDED"
    assert states[:3] == [START, CHECK, FINISHED]
    assert server.names()[0] == "check_status"
    assert "submit" not in server.names()


def test_a_partly_succeeded_job_ends_in_its_own_succeed_state(studio_sfn: dict[str, str]) -> None:
    # Given finalize copied what succeeded and found another operation failed
    tasks = ScriptedTasks(finalize=[StepStatus.PARTIAL])

    # When the job runs
    described, states, _ = execute(studio_sfn, tasks)

    # Then the execution ends in "Job partly succeeded", not in a failure
    assert described["status"] == "SUCCEEDED"
    assert states[-3:] == [COPY, ANOTHER_ROUND, PARTLY_SUCCEEDED]
    assert JobState.model_validate_json(described["output"]).status is StepStatus.PARTIAL


# ---------------------------------------------------------------- review


def test_the_review_waits_on_a_task_token_until_its_deadline(definition: dict[str, Any]) -> None:
    states = definition["States"]
    wait = states[WAIT_REVIEW]

    # The wait is the Lambda integration's callback pattern: a small payload, the token, the deadline
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"]["FunctionName"] == "${ReviewFunctionArn}"
    assert wait["Parameters"]["Payload"] == {
        "task": "await_review",
        "task_token.$": "$$.Task.Token",
        "job_id.$": "$.job_id",
        "round.$": "$.round",
        "deadline_seconds.$": "$.review.deadline_seconds",
    }
    assert wait["TimeoutSecondsPath"] == "$.review.deadline_seconds"
    assert "deadline_seconds" in ReviewStep.model_fields
    # The decision lands beside the state, which goes on whole
    assert wait["ResultPath"] == "$.review.decision"
    assert wait["Next"] == APPLY_DECISION
    deadline, everything_else = wait["Catch"]
    assert (deadline["ErrorEquals"], deadline["Next"]) == (["States.Timeout"], DEADLINE)
    assert (everything_else["ErrorEquals"], everything_else["Next"]) == (["States.ALL"], RECORD_FAILURE)


def test_the_review_tasks_take_the_state_and_end_through_a_choice(definition: dict[str, Any]) -> None:
    states = definition["States"]
    for name, task in (
        (APPLY_DECISION, "apply_decision"),
        (PUBLISH, "publish_approved"),
        (DEADLINE, "close_expired_review"),
    ):
        state = states[name]
        assert state["Resource"] == "${ReviewFunctionArn}"
        assert state["Parameters"] == {"task": task, "state.$": "$"}
        assert "ResultPath" not in state, "the function answers the whole state"
        assert state["Catch"][-1]["Next"] == RECORD_FAILURE
    decided = {c["StringEquals"]: c["Next"] for c in states[DECIDED]["Choices"]}
    assert decided == {
        StepStatus.REGENERATE: REGENERATE,
        StepStatus.PUBLISH: PUBLISH,
        StepStatus.AWAITING_REVIEW: WAIT_REVIEW,
    }
    ended = {c["StringEquals"]: c["Next"] for c in states[ENDED_REVIEW]["Choices"]}
    assert ended == {StepStatus.SUCCEEDED: SUCCEEDED, StepStatus.PARTIAL: PARTLY_SUCCEEDED}
    assert states[PUBLISH]["Next"] == states[DEADLINE]["Next"] == ENDED_REVIEW


def review_run(
    substitutions: dict[str, str], tasks: ScriptedTasks, answers: list[Any]
) -> tuple[dict[str, Any], list[str], LambdaServer]:
    """Runs a job whose execution waits for review, answering each wait with the next of ``answers``:
    ``("success", output)``, ``("failure", error, cause)`` or ``None`` (let the deadline pass)."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    with serve_lambdas(tasks.handlers()) as server:
        machine = create_state_machine(render_definition(substitutions))
        arn = sfn.start_execution(stateMachineArn=machine, name="job-review", input=json.dumps(job_input()))[
            "executionArn"
        ]
        for waits, answer in enumerate(answers, start=1):
            deadline = time.monotonic() + 20
            while len(tasks.tokens) < waits and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(tasks.tokens) == waits, f"the execution never waited for review {waits}"
            if answer is None:
                continue
            if answer[0] == "success":
                sfn.send_task_success(taskToken=tasks.tokens[-1], output=json.dumps(answer[1]))
            else:
                sfn.send_task_failure(taskToken=tasks.tokens[-1], error=answer[1], cause=answer[2])
        deadline = time.monotonic() + 30
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not end"
            time.sleep(0.02)
    return described, entered_states(arn), server


def test_a_rejection_regenerates_and_comes_back_to_review_then_publishes(studio_sfn: dict[str, str]) -> None:
    # Given a job whose copy asks for review twice (once after the first round, once after the second)
    tasks = ScriptedTasks(
        finalize=[StepStatus.AWAITING_REVIEW, StepStatus.AWAITING_REVIEW],
        apply_decision=[StepStatus.REGENERATE, StepStatus.PUBLISH],
    )

    # When a decision rejects a type, and a second one approves what came back
    decision = ("success", {"decision_id": "d-1"})
    described, states, server = review_run(studio_sfn, tasks, [decision, decision])

    # Then the execution waited, regenerated, waited again, published and succeeded
    assert described["status"] == "SUCCEEDED"
    assert states == [
        START, SUBMIT, WAIT, CHECK, FINISHED, COPY, ANOTHER_ROUND, WAIT_REVIEW, APPLY_DECISION, DECIDED,
        REGENERATE, WAIT, CHECK, FINISHED, COPY, ANOTHER_ROUND, WAIT_REVIEW, APPLY_DECISION, DECIDED,
        PUBLISH, ENDED_REVIEW, SUCCEEDED,
    ]  # fmt: skip
    # And each wait had a token of its own
    assert len(set(tasks.tokens)) == 2
    assert [e["task"] for e in server.events_of("review")] == [
        "await_review", "apply_decision", "await_review", "apply_decision", "publish_approved",
    ]  # fmt: skip


def test_at_the_review_deadline_the_job_ends_with_nothing_published(studio_sfn: dict[str, str]) -> None:
    # Given a review deadline of one second
    tasks = ScriptedTasks(finalize=[StepStatus.AWAITING_REVIEW])
    tasks.review_deadline_seconds = 1

    # When nobody decides
    described, states, _ = review_run(studio_sfn, tasks, [None])

    # Then States.Timeout closes the review and the job ends through its own choice
    assert described["status"] == "SUCCEEDED"
    assert states[-4:] == [WAIT_REVIEW, DEADLINE, ENDED_REVIEW, SUCCEEDED]


def test_a_cancel_ends_the_wait_through_record_failure(studio_sfn: dict[str, str]) -> None:
    tasks = ScriptedTasks(finalize=[StepStatus.AWAITING_REVIEW])

    pass_task_failure_causes()  # moto's HTTP handler drops the cause otherwise (studio_local closes it)
    try:
        _, states, server = review_run(
            studio_sfn, tasks, [("failure", "JobCancelled", "cancelled by ana at 2026-12-07T10:00:00+00:00")]
        )
    finally:
        pass_task_failure_causes(enable=False)

    assert states[-4:] == [WAIT_REVIEW, RECORD_FAILURE, FAILED_OR_TIMED_OUT, FAILED]
    [recorded] = server.events_of("record_failure")
    assert recorded["error"] == {
        "Error": "JobCancelled",
        "Cause": "cancelled by ana at 2026-12-07T10:00:00+00:00",
    }
