"""Nothing lost, nothing paid twice: partial and late results, tolerant reading, creates, uploads.

The task Lambdas are called as Step Functions calls them (each state in, the next state out),
with moto and the simulator; ``run("record_failure", ...)`` after an error stands for the Catch.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from studio_core import clients
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.operations import operation_creator
from studio_core.aws.executions import Executions
from studio_core.domain.errors import AiutaConnectionError, AiutaOutcomeUnknown
from studio_core.domain.polling import PollSettings
from studio_core.domain.state import JobState
from studio_core.steps.resume import resume_job
from studio_core.steps.submit import submit_job
from tests.support.aws import BUCKET, IDEMPOTENCY_TABLE, REGION, job_record, queued_job
from tests.support.simulator import SIM_API_KEY
from tests.support.steps import calls, finish_operations, outbox_keys, run

# Tolerant reading: every answer has fields and enum values the contract does not define.
pytestmark = pytest.mark.usefixtures("pipeline_aws", "answers_carry_unknown_fields")


def result_json(state: dict[str, Any]) -> dict[str, Any]:
    key = f"outbox/{state['product_id']}/{state['job_id']}/result.json"
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return json.loads(body)


def images(product_id: str = "sku-1") -> list[str]:
    return [key.split("/", 3)[3] for key in outbox_keys(product_id) if key.endswith(".png")]


def caught(state: dict[str, Any], exc: Exception) -> dict[str, Any]:
    """What the state machine's Catch hands Record failure: the state with ``$.error``."""
    cause = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__})
    return {**state, "error": {"Error": type(exc).__name__, "Cause": cause}}


def past_deadline(state: dict[str, Any]) -> dict[str, Any]:
    state["poll"]["deadline"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    return state


# Partial results


def test_a_failed_flat_lay_operation_keeps_the_on_figure_images(studio_sim: Any) -> None:
    # Given a job of both kinds whose flat-lay operation Aiuta will fail
    state = queued_job(kind="both", product={"description": "Linen shirt [sim:flat_lay:FAILED]"})

    # When it runs to the end
    state = run("submit", state)
    finish_operations(studio_sim)
    state = run("check_status", state)
    assert state["status"] == "READY"
    state = run("finalize", state)

    # Then the on-figure images (paid for) are in the outbox, and the job is PARTIAL naming the flat lay
    assert state["status"] == "PARTIAL"
    assert images() == ["on_figure/front-standing-v1.png"]
    record = job_record(state["job_id"])
    assert record["status"] == "PARTIAL"
    assert "the flat_lay operation" in record["error"] and "ended FAILED" in record["error"]
    result = result_json(state)
    assert result["status"] == "PARTIAL" and result["error"] == record["error"]
    assert [i["kind"] for i in result["images"]] == ["on_figure"]


def test_when_every_operation_failed_the_job_fails(studio_sim: Any) -> None:
    state = run("submit", queued_job(kind="both", product={"description": "[sim:FAILED]"}))
    finish_operations(studio_sim)
    state = run("check_status", state)
    assert state["status"] == "FAILED"
    state = run("record_failure", state)
    assert job_record(state["job_id"])["status"] == "FAILED"


def test_a_failed_regeneration_round_keeps_round_zero(studio_sim: Any) -> None:
    # Given a job whose first round is copied, and whose planned round Aiuta fails
    state = queued_job(regeneration={"rounds": [{"image_types": ["back/walking"]}]})
    state = run("submit", state)
    finish_operations(studio_sim)
    state = run("finalize", run("check_status", state))
    assert state["status"] == "REGENERATE"
    studio_sim.admin.configure(forced_outcome="FAILED")
    state = run("regenerate", state)
    finish_operations(studio_sim)

    # When the round is checked and finalized
    state = run("check_status", state)
    assert state["status"] == "READY"
    state = run("finalize", state)

    # Then round 0 stays in the bucket and the job is PARTIAL, naming the failed round
    assert state["status"] == "PARTIAL"
    assert images() == ["on_figure/front-standing-v1.png"]
    record = job_record(state["job_id"])
    assert record["status"] == "PARTIAL"
    assert "operation of round 1" in record["error"]
    assert [i["round"] for i in record["images"]] == [0]


def test_a_regeneration_that_cannot_be_created_keeps_round_zero(studio_sim: Any) -> None:
    # Given round 0 copied, and Aiuta answering 500 to the regeneration's create
    state = run("submit", queued_job(regeneration={"rounds": [{"image_types": ["back/walking"]}]}))
    finish_operations(studio_sim)
    state = run("finalize", run("check_status", state))
    studio_sim.admin.configure(rate_500=1.0)
    with pytest.raises(AiutaOutcomeUnknown) as failure:
        run("regenerate", state)

    # When the Catch hands the error to Record failure
    state = run("record_failure", caught(state, failure.value))

    # Then the job is PARTIAL, round 0 kept in the record and in result.json
    assert state["status"] == "PARTIAL"
    record = job_record(state["job_id"])
    assert record["status"] == "PARTIAL" and record["error"].startswith("AiutaOutcomeUnknown:")
    assert len(record["images"]) == 1
    assert len(result_json(state)["images"]) == 1


# Tolerant reading


def test_answers_with_unknown_fields_and_values_run_a_job_to_the_end(studio_sim: Any) -> None:
    # Given Aiuta adds fields everywhere, a new hair colour, and a status nobody has seen
    studio_sim.admin.configure(extra_answer_fields=True)
    state = queued_job(kind="both", input_mode="upload", number_of_generations=2)

    # When the job runs
    state = run("submit", state)
    state = run("check_status", state)

    # Then the unknown status counts as unfinished (and is kept as Aiuta wrote it)...
    assert state["status"] == "WAITING"
    assert {op["status"] for op in state["operations"]} == {"QUEUED_SIM"}
    finish_operations(studio_sim)
    state = run("finalize", run("check_status", state))

    # ...and the job succeeds with every image
    assert state["status"] == "SUCCEEDED"
    assert len(images()) == 4


def test_a_job_stuck_on_an_unknown_status_ends_at_its_deadline_saying_so(studio_sim: Any) -> None:
    studio_sim.admin.configure(extra_answer_fields=True)
    state = past_deadline(run("submit", queued_job()))

    state = run("check_status", state)

    assert state["status"] == "TIMED_OUT"
    assert "'QUEUED_SIM' (a status this pipeline does not know" in state["failure_reason"]


def test_presets_with_an_unknown_hair_colour_are_listed(studio_sim: Any) -> None:
    studio_sim.admin.configure(extra_answer_fields=True)
    client = AiutaStudioClient(SIM_API_KEY, studio_sim.base_url)

    presets = client.list_model_presets()

    assert presets[0].settings.hair_color == "sim_teal"
    assert all(preset.preset_id for preset in presets)


# Creates are never resent blind


def test_a_create_answered_500_is_not_resent_even_when_the_task_is_retried(studio_sim: Any) -> None:
    # Given a create that Aiuta answers 500 (it may have created the operation anyway)
    state = queued_job()
    studio_sim.admin.configure(rate_500=1.0)
    with pytest.raises(AiutaOutcomeUnknown):
        run("submit", state)

    # When Step Functions (or a person) runs the same submit again, Aiuta healthy by now
    studio_sim.admin.configure(rate_500=0.0)
    with pytest.raises(AiutaOutcomeUnknown, match="not sent again"):
        run("submit", state)

    # Then Aiuta saw exactly one create
    assert calls(studio_sim, "POST /on_figure_operations") == 1


def test_one_kind_whose_create_is_unconfirmed_does_not_cost_the_other(studio_sim: Any) -> None:
    # Given the flat-lay create's answer is lost (a 502 after the request reached Aiuta)
    real = operation_creator(IDEMPOTENCY_TABLE, clients.aiuta_client)

    def create(key: str, order: dict[str, Any]) -> str:
        if order["action"] == "flat_lay":
            raise AiutaOutcomeUnknown("POST /flat_lay_operations: Aiuta answered 502 - not sent again")
        return real(key, order)

    # When the job is submitted and runs on
    submitted = submit_job(
        JobState.model_validate(queued_job(kind="both")),
        client=clients.aiuta_client(),
        storage=clients.storage(),
        jobs=clients.jobs_table(),
        create=create,
        poll=PollSettings(expected_online_seconds=1),
        estimates=clients.duration_estimates(),
        url_ttl_seconds=600,
    )
    flat_lay = next(op for op in submitted.operations if op.kind == "flat_lay")
    assert flat_lay.operation_id is None and flat_lay.status == "FAILED"
    finish_operations(studio_sim)
    state = run("finalize", run("check_status", submitted.to_output()))

    # Then the on-figure operation is copied and the job is PARTIAL, saying the create was not confirmed
    assert state["status"] == "PARTIAL"
    assert "the create was not confirmed" in job_record(state["job_id"])["error"]
    assert calls(studio_sim, "POST /flat_lay_operations") == 0


class FailingThirdUpload:
    """The real client, except that the third upload's connection breaks (a half-failed batch)."""

    def __init__(self, client: AiutaStudioClient) -> None:
        self.client, self.uploads = client, 0

    def upload_image(self, data: bytes, **kwargs: Any) -> Any:
        self.uploads += 1
        if self.uploads == 3:
            raise AiutaConnectionError(
                "POST /uploaded_images: could not connect", may_have_reached_server=False
            )
        return self.client.upload_image(data, **kwargs)


def test_a_half_failed_upload_batch_is_resumed_without_uploading_again(studio_sim: Any) -> None:
    # Given a job of four photos in upload mode, whose third upload fails
    state = JobState.model_validate(queued_job(images=4, input_mode="upload"))
    arguments: dict[str, Any] = {
        "storage": clients.storage(),
        "jobs": clients.jobs_table(),
        "create": operation_creator(IDEMPOTENCY_TABLE, clients.aiuta_client),
        "poll": PollSettings(),
        "estimates": clients.duration_estimates(),
        "url_ttl_seconds": 600,
    }
    with pytest.raises(AiutaConnectionError):
        submit_job(
            state.model_copy(deep=True), client=FailingThirdUpload(clients.aiuta_client()), **arguments
        )

    # Then the two ids that exist are already in the record
    assert [u["key"] for u in job_record(state.job_id)["uploads"]] == state.input_keys[:2]

    # When the submit is retried
    submitted = submit_job(state, client=clients.aiuta_client(), **arguments)

    # Then only the two missing photos were uploaded, and the operation uses all four ids in order
    assert calls(studio_sim, "POST /uploaded_images") == 4
    recorded = {u["key"]: u["image_id"] for u in job_record(state.job_id)["uploads"]}
    assert submitted.uploaded_image_ids == [recorded[key] for key in state.input_keys]
    assert len(set(submitted.uploaded_image_ids)) == 4


# A null right after a create


def test_null_answers_right_after_a_create_are_polled_again(studio_sim: Any) -> None:
    # Given Aiuta answers null to the first two reads of a new operation
    studio_sim.admin.configure(null_polls_after_create=2)
    state = run("submit", queued_job())

    # When the status is checked three times
    first = run("check_status", state)
    second = run("check_status", first)
    finish_operations(studio_sim)
    third = run("check_status", second)

    # Then the nulls were waited out, counted, and the job goes on
    assert [s["status"] for s in (first, second, third)] == ["WAITING", "WAITING", "READY"]
    assert [s["operations"][0]["not_found_polls"] for s in (first, second, third)] == [1, 2, 0]


def test_an_operation_aiuta_never_knew_fails_after_the_grace(studio_sim: Any) -> None:
    # Given a job whose operation id Aiuta does not know, created a minute ago
    state = run("submit", queued_job())
    state["operations"][0]["operation_id"] = "onfigure_op-unknown"
    state["poll"]["started_at"] = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    # When it is checked until the grace is over
    for _ in range(3):
        state = run("check_status", state)

    # Then it failed, saying Aiuta does not know it
    assert state["status"] == "FAILED"
    assert "Aiuta does not know this operation (3 checks in a row" in state["failure_reason"]


# Late results


def time_out(studio_sim: Any, **document: Any) -> dict[str, Any]:
    """A job whose operation takes ten minutes, past a deadline that has passed: TIMED_OUT."""
    studio_sim.admin.configure(operation_seconds=600)
    state = run("check_status", past_deadline(run("submit", queued_job(**document))))
    assert state["status"] == "TIMED_OUT"
    state = run("record_failure", state)
    assert job_record(state["job_id"])["status"] == "TIMED_OUT"
    return state


def resumed(job_id: str) -> dict[str, Any]:
    """Starts the job's resume execution as `studio resume` does; returns the execution's input."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    name = resume_job(job_id, jobs=clients.jobs_table(), executions=Executions(arn))
    [execution] = [e for e in sfn.list_executions(stateMachineArn=arn)["executions"] if e["name"] == name]
    return json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])


def test_a_timed_out_job_is_resumed_and_its_late_images_copied(studio_sim: Any) -> None:
    # Given a job that timed out, whose operation Aiuta finished afterwards
    state = time_out(studio_sim, number_of_generations=2)
    studio_sim.admin.advance(700)

    # When it is resumed: the execution starts at the check with a fresh deadline
    resume = resumed(state["job_id"])
    assert resume["resume"] == {"attempt": 1} and resume["poll"] is None
    assert job_record(state["job_id"])["status"] == "GENERATING"
    state = run("check_status", resume)
    assert state["status"] == "READY"
    assert datetime.fromisoformat(state["poll"]["deadline"]) > datetime.now(UTC)
    state = run("finalize", state)

    # Then the late images are in the outbox and the job SUCCEEDED, without a second create
    assert state["status"] == "SUCCEEDED"
    assert len(images()) == 2
    record = job_record(state["job_id"])
    assert record["status"] == "SUCCEEDED" and record["resumes"] == 1 and record["error"] is None
    assert calls(studio_sim, "POST /on_figure_operations") == 1


def test_late_images_whose_links_expire_before_the_copy_are_reported_as_expired(studio_sim: Any) -> None:
    # Given a timed-out job, resumed once Aiuta finished, whose links (one hour) expire before the copy
    state = time_out(studio_sim)
    studio_sim.admin.advance(700)
    state = run("check_status", resumed(state["job_id"]))
    studio_sim.admin.advance(2 * 3600)

    # When the round is copied
    state = run("finalize", state)

    # Then nothing could be copied, and the job says the links expired
    assert state["status"] == "PARTIAL"
    record = job_record(state["job_id"])
    assert "the link had expired at Aiuta before it could be copied" in record["error"]
    assert images() == []


def test_a_job_stuck_at_the_deadline_with_one_kind_done_copies_it_and_can_be_resumed(studio_sim: Any) -> None:
    # Given a job of both kinds: the flat lay finishes, the on-figure is still PAUSED at the deadline
    state = run("submit", queued_job(kind="both", product={"description": "[sim:on_figure:NEVER_FINISHES]"}))
    finish_operations(studio_sim)
    state = run("finalize", run("check_status", past_deadline(state)))

    # Then the flat lay is copied and the job is PARTIAL, naming the unfinished operation
    assert state["status"] == "PARTIAL"
    assert [key.split("/")[0] for key in images()] == ["flat_lay"]
    record = job_record(state["job_id"])
    assert "not finished at Aiuta by the deadline" in record["error"]

    # And a resume checks only the unfinished operation again, copying nothing twice
    resume = resumed(state["job_id"])
    assert [op["copied"] for op in resume["operations"]] == [False, True]


def test_studio_resume_refuses_a_job_that_succeeded(studio_sim: Any) -> None:
    from studio_cli.main import main

    state = run("submit", queued_job())
    finish_operations(studio_sim)
    state = run("finalize", run("check_status", state))
    sfn = boto3.client("stepfunctions", region_name=REGION)
    env = {
        "STUDIO_BUCKET": BUCKET,
        "STUDIO_TABLE": clients.jobs_table()._table.name,
        "STUDIO_STATE_MACHINE_ARN": sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"],
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert main(["resume", state["job_id"]]) == 1


@pytest.mark.parametrize(
    ("error", "cause", "expected"),
    [
        (
            "Runtime.ExitError",
            "the runtime exited mid-invocation",
            "cut off mid-invocation (its runtime exited)",
        ),
        ("Sandbox.Timedout", "Task timed out after 60.00 seconds", "ran out of time mid-invocation"),
        ("IdempotencyAlreadyInProgressError", "Execution already in progress", "cut off mid-call"),
    ],
)
def test_a_step_cut_off_mid_call_fails_saying_so(error: str, cause: str, expected: str) -> None:
    from studio_core.steps.record_failure import failure_of

    # Given the state a Catch hands Record failure after the step's Lambda was cut off
    cut_off = {"errorMessage": cause, "errorType": error}
    state = JobState.model_validate({**queued_job(), "error": {"Error": error, "Cause": json.dumps(cut_off)}})

    failure = failure_of(state)

    assert failure.error == error
    assert expected in failure.cause and cause in failure.cause
    assert "Aiuta may have created it" in failure.cause


def test_a_submit_that_fails_after_one_create_keeps_that_operation_for_resume(studio_sim: Any) -> None:
    # Given a job of both kinds whose flat-lay create cannot get through (retries used up)
    real = operation_creator(IDEMPOTENCY_TABLE, clients.aiuta_client)

    def create(key: str, order: dict[str, Any]) -> str:
        if order["action"] == "flat_lay":
            raise AiutaConnectionError(
                "POST /flat_lay_operations: could not connect", may_have_reached_server=False
            )
        return real(key, order)

    state = queued_job(kind="both")
    with pytest.raises(AiutaConnectionError) as failure:
        submit_job(
            JobState.model_validate(state),
            client=clients.aiuta_client(),
            storage=clients.storage(),
            jobs=clients.jobs_table(),
            create=create,
            poll=PollSettings(),
            estimates=clients.duration_estimates(),
            url_ttl_seconds=600,
        )

    # When the Catch hands Record failure the state from before the submit
    run("record_failure", caught(state, failure.value))

    # Then the job keeps the on-figure operation Aiuta did create (paid for)...
    record = job_record(state["job_id"])
    assert record["status"] == "FAILED"
    assert [op["kind"] for op in record["operations"]] == ["on_figure"]

    # ...and a resume collects its images, the job ending PARTIAL for the kind never created
    finish_operations(studio_sim)
    ended = run("finalize", run("check_status", resumed(state["job_id"])))
    assert ended["status"] == "PARTIAL"
    assert "no flat_lay operation was created" in job_record(state["job_id"])["error"]
    assert images() == ["on_figure/front-standing-v1.png"]
    assert calls(studio_sim, "POST /on_figure_operations") == 1


def test_a_kind_aiuta_refuses_does_not_cost_the_kind_it_accepted(studio_sim: Any) -> None:
    # Given a job of both kinds whose flat-lay request Aiuta refuses (422)
    from studio_core.domain.errors import AiutaRejectedRequest

    real = operation_creator(IDEMPOTENCY_TABLE, clients.aiuta_client)

    def create(key: str, order: dict[str, Any]) -> str:
        if order["action"] == "flat_lay":
            raise AiutaRejectedRequest(
                "POST /flat_lay_operations: Aiuta rejected the request: image_types: bad"
            )
        return real(key, order)

    submitted = submit_job(
        JobState.model_validate(queued_job(kind="both")),
        client=clients.aiuta_client(),
        storage=clients.storage(),
        jobs=clients.jobs_table(),
        create=create,
        poll=PollSettings(expected_online_seconds=1),
        estimates=clients.duration_estimates(),
        url_ttl_seconds=600,
    )
    finish_operations(studio_sim)
    state = run("finalize", run("check_status", submitted.to_output()))

    assert state["status"] == "PARTIAL"
    assert "the create was refused" in job_record(state["job_id"])["error"]
