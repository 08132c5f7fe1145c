"""The sample events in events/ are what `sam local invoke -e events/<x>.json <Fn>` feeds the functions.

They must keep the shapes AWS delivers (an S3 event inside an SQS record's body) and the shape the
state machine hands each task (``JobState``), or a developer's first local invoke fails on the sample.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import S3Model, SqsModel

from studio_core.domain.state import JobState, StepStatus

EVENTS = Path(__file__).resolve().parents[2] / "events"

INGEST_EVENTS = {
    "ingest_s3_put.json": "inbox/sku-123/front.jpg",
    "ingest_product_json.json": "inbox/sku-123/product.json",
    "ingest_regenerate.json": "regenerate/sku-123.json",
    "ingest_review.json": "review/sku-123/sku-123-3f9a1c2b7d4e5f60/20261207T100000Z-ana.json",
}
STATE_EVENTS = {
    "submit.json": StepStatus.WAITING,
    "check_status.json": StepStatus.WAITING,
    "finalize.json": StepStatus.READY,
    "regenerate.json": StepStatus.REGENERATE,
    "record_failure.json": StepStatus.WAITING,
    "resume.json": StepStatus.WAITING,
}
# The catalogue run's input, an item of its check, and a capacity wait's plan: tested below.
OTHER_EVENTS = {"catalogue.json", "catalogue_check.json", "plan_capacity_wait.json", "review_publish.json"}
EXPECTED_JOB = {
    "product": {
        "title": "Linen shirt",
        "category": "Apparel & Accessories > Clothing > Shirts & Tops",
        "description": "Relaxed fit, white",
    },
    "kind": ["on_figure"],
    "input_mode": "urls",
    "image_types": {"on_figure": [{"viewpoint": "front", "pose": "standing"}]},
    "number_of_generations": 1,
    "operation_priority": "online",
}


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def assert_kept(sample: Any, output: Any, path: str = "$") -> None:
    """Every value the sample sets comes back out unchanged (new fields with defaults may be added)."""
    if isinstance(sample, dict):
        assert isinstance(output, dict), path
        for key, value in sample.items():
            assert key in output, f"{path}.{key} was dropped"
            assert_kept(value, output[key], f"{path}.{key}")
    elif isinstance(sample, list):
        assert isinstance(output, list) and len(output) == len(sample), path
        for index, (item, out) in enumerate(zip(sample, output, strict=True)):
            assert_kept(item, out, f"{path}[{index}]")
    else:
        assert output == sample, f"{path}: {sample!r} came back as {output!r}"


def test_every_event_file_is_known_and_parses() -> None:
    # Given the events folder
    names = {path.name for path in EVENTS.glob("*.json")}

    # Then it holds exactly the documented samples, each valid JSON
    assert names == {*INGEST_EVENTS, "ingest_s3_test_event.json", *STATE_EVENTS, *OTHER_EVENTS}
    for name in names:
        assert isinstance(load(name), dict), name


@pytest.mark.parametrize(("name", "key"), sorted(INGEST_EVENTS.items()))
def test_ingest_events_are_s3_events_inside_sqs_records(name: str, key: str) -> None:
    # Given an ingest sample
    event = load(name)

    # When it is parsed as AWS delivers it: an SQS batch whose record body is the S3 event as a string
    sqs = SqsModel.model_validate(event)
    record = sqs.Records[0]
    s3 = S3Model.model_validate_json(record.body)

    # Then it is one ObjectCreated record for the documented key, with SQS's own checksum of the body
    assert len(sqs.Records) == 1
    assert record.md5OfBody == hashlib.md5(record.body.encode()).hexdigest()  # noqa: S324
    assert [r.eventName for r in s3.Records] == ["ObjectCreated:Put"]
    assert s3.Records[0].s3.object.key == key
    assert s3.Records[0].s3.bucket.name.startswith("studio-")


def test_the_s3_test_event_is_what_s3_sends_when_notifications_are_configured() -> None:
    # Given the s3:TestEvent sample
    record = SqsModel.model_validate(load("ingest_s3_test_event.json")).Records[0]

    # Then its body is S3's test message, which has no Records (ingest must skip it)
    body = json.loads(record.body)
    assert body["Event"] == "s3:TestEvent"
    assert body["Service"] == "Amazon S3"
    assert "Records" not in body


@pytest.mark.parametrize("name", sorted([*INGEST_EVENTS, "ingest_s3_test_event.json"]))
def test_ingest_understands_every_ingest_sample(name: str) -> None:
    from studio_core.aws.queue_messages import S3Notification, S3TestEvent, parse_message

    # When ingest parses the body of the sample's record
    message = parse_message(load(name)["Records"][0]["body"])

    # Then it is the kind of message the sample stands for
    expected = S3TestEvent if name == "ingest_s3_test_event.json" else S3Notification
    assert isinstance(message, expected)


@pytest.mark.parametrize(("name", "status"), sorted(STATE_EVENTS.items()))
def test_state_events_are_job_states(name: str, status: StepStatus) -> None:
    # Given a task's sample input
    event = load(name)

    # When it is validated as the state the state machine passes between tasks
    state = JobState.model_validate(event)

    # Then it is the same sample job, in the step the task expects, and the model keeps every value
    assert state.status is status
    assert state.product_id == "sku-123"
    assert_kept(EXPECTED_JOB, state.job.to_state())
    assert_kept(event, state.to_output())


def test_tasks_after_submit_have_operations_and_a_poll_schedule() -> None:
    for name in ("check_status.json", "finalize.json", "regenerate.json"):
        state = JobState.model_validate(load(name))
        assert state.current_operations(), name
        assert state.poll is not None, name


def test_regenerate_sample_carries_the_round_to_start() -> None:
    state = JobState.model_validate(load("regenerate.json"))

    assert state.pending_round is not None
    assert [t.label for t in state.pending_round.image_types] == ["back/walking"]


def test_record_failure_sample_carries_a_caught_lambda_error() -> None:
    # Given the input Record failure gets after a Catch (ResultPath $.error)
    state = JobState.model_validate(load("record_failure.json"))

    # Then the error is named like the exception class and its cause is Lambda's JSON error payload
    assert state.error is not None
    assert state.error.error == "AiutaRejectedRequest"
    cause = json.loads(state.error.cause or "")
    assert cause["errorType"] == "AiutaRejectedRequest"
    assert state.error.message == cause["errorMessage"]


def test_resume_sample_is_a_timed_out_job_checked_again_without_a_schedule() -> None:
    # Given the input `studio resume` starts (and a console user copies from the job record)
    state = JobState.model_validate(load("resume.json"))

    # Then it carries the kept, unfinished operation and no schedule: the check task starts a fresh one
    assert state.resume is not None and state.resume.attempt == 1
    assert state.poll is None
    assert [op.finished for op in state.current_operations()] == [False]


def test_the_catalogue_samples_are_a_catalogue_run_input_and_its_check() -> None:
    from studio_core.domain.identity import catalogue_run_name
    from studio_core.steps.catalogue_run import CatalogueRef

    run_input = load("catalogue.json")
    check_event = load("catalogue_check.json")

    # The catalogue execution's input, as ingest starts it (StartExecution from the console too)
    catalogue = CatalogueRef.model_validate(run_input["catalogue"])
    assert catalogue.report_prefix == f"{catalogue.key}.report/"
    assert catalogue.run_prefix.startswith(catalogue.report_prefix + catalogue.run_name)
    assert catalogue.run_name.startswith(catalogue_run_name(catalogue.key, catalogue.version)[:17])
    assert run_input["max_concurrency"] >= 1
    # The task "Check every row and quote it", as the state machine calls it
    assert check_event == {"task": "check_catalogue", "catalogue": run_input["catalogue"]}


def test_the_capacity_wait_sample_is_a_job_state_with_the_error_of_one_task() -> None:
    from studio_core.domain.capacity import CapacityTask
    from studio_core.domain.state import StepError

    event = load("plan_capacity_wait.json")
    caught = event.pop("capacity_error")

    JobState.model_validate(event)
    [(task, error)] = caught.items()
    assert CapacityTask(task) is CapacityTask.SUBMIT
    assert StepError.model_validate(error).message.startswith("POST /on_figure_operations: rate limited")


def test_the_review_sample_is_the_publish_task_with_a_job_state_to_publish() -> None:
    from studio_core.steps.review import ReviewTask

    task = ReviewTask.model_validate(load("review_publish.json"))

    assert task.task == "publish_approved" and task.state is not None
    assert task.state.status is StepStatus.PUBLISH
    assert task.state.review is not None and task.state.review.mode == "auto"
    assert_kept(EXPECTED_JOB, task.state.job.to_state())
