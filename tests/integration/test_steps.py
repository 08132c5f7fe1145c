"""The state machine's task Lambdas, called as Step Functions calls them, with moto and the simulator.

Each test passes a JobState in and checks what a user would see: the operation at Aiuta (the
simulator's call log), the images in the bucket, the job record in DynamoDB.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from PIL import Image

from studio_core.domain.errors import AiutaOutcomeUnknown, AiutaServerError, InvalidJob
from tests.support.aws import BUCKET, REGION, job_record, queued_job
from tests.support.steps import calls, finish_operations, outbox_keys, run

# Tolerant reading: every answer has fields and enum values the contract does not define.
pytestmark = pytest.mark.usefixtures("pipeline_aws", "answers_carry_unknown_fields")


def read_image(key: str) -> Image.Image:
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    import io

    picture = Image.open(io.BytesIO(body))
    picture.load()
    return picture


def test_urls_job_goes_from_submit_to_copied_images(studio_sim: Any) -> None:
    # Given a job with two photos in the inbox, in the presigned-URL input mode
    state = queued_job(
        number_of_generations=2,
        output_image_size={"width": 320, "height": 480},
        image_types=["front/standing", "back/walking"],
    )

    # When it is submitted, Aiuta finishes, and the status check and copy run
    state = run("submit", state)
    assert state["status"] == "WAITING" and state["poll"]["wait_seconds"] >= 1
    [operation] = state["operations"]
    assert operation["image_types"] == ["front/standing", "back/walking"]
    finish_operations(studio_sim)
    state = run("check_status", state)
    assert state["status"] == "READY"
    state = run("finalize", state)

    # Then every generated image is in the outbox, decodes, and has the requested size
    assert state["status"] == "SUCCEEDED"
    images = [k for k in outbox_keys() if k.endswith(".png")]
    assert [k.rsplit("/", 1)[-1] for k in images] == [
        "back-walking-v1.png",
        "back-walking-v2.png",
        "front-standing-v1.png",
        "front-standing-v2.png",
    ]
    assert all(read_image(k).size == (320, 480) for k in images)
    # And the job record and result.json say so
    record = job_record(state["job_id"])
    assert record["status"] == "SUCCEEDED"
    assert {i["key"] for i in record["images"]} == set(images)
    assert all(i["source_url"].startswith(studio_sim.root_url) for i in record["images"])
    result = json.loads(
        boto3.client("s3", region_name=REGION)
        .get_object(Bucket=BUCKET, Key=f"outbox/sku-1/{state['job_id']}/result.json")["Body"]
        .read()
    )
    assert result["status"] == "SUCCEEDED" and len(result["images"]) == 4
    # And Aiuta got presigned URLs (the simulator downloaded them from S3), not uploads
    assert calls(studio_sim, "POST /uploaded_images") == 0


def test_upload_mode_sends_the_bytes_first(studio_sim: Any) -> None:
    # Given a job in upload mode with three photos
    state = queued_job(images=3, input_mode="upload", kind="flat_lay")

    # When it is submitted
    state = run("submit", state)

    # Then each photo was uploaded, and the flat-lay operation uses their ids
    assert calls(studio_sim, "POST /uploaded_images") == 3
    assert calls(studio_sim, "POST /flat_lay_operations") == 1
    assert len(state["uploaded_image_ids"]) == 3
    assert job_record(state["job_id"])["input_mode"] == "upload"


def test_both_kinds_create_two_operations_and_wait_for_both(studio_sim: Any) -> None:
    state = run("submit", queued_job(kind="both"))
    assert sorted(op["kind"] for op in state["operations"]) == ["flat_lay", "on_figure"]
    finish_operations(studio_sim)
    state = run("finalize", run("check_status", state))
    assert state["status"] == "SUCCEEDED"
    assert {k.split("/")[3] for k in outbox_keys() if k.endswith(".png")} == {"on_figure", "flat_lay"}


@pytest.mark.parametrize("input_mode", ["urls", "upload"])
def test_a_retried_submit_creates_exactly_one_operation(studio_sim: Any, input_mode: str) -> None:
    # Given a submit that reached Aiuta, but whose Lambda is retried with the same input
    state = queued_job(input_mode=input_mode)
    first = run("submit", state)

    # When the same state is submitted again
    second = run("submit", state)

    # Then Aiuta saw one create (and one upload per photo), and both runs carry the same ids
    assert calls(studio_sim, "POST /on_figure_operations") == 1
    assert calls(studio_sim, "POST /uploaded_images") == (2 if input_mode == "upload" else 0)
    assert first["operations"][0]["operation_id"] == second["operations"][0]["operation_id"]
    assert first["uploaded_image_ids"] == second["uploaded_image_ids"]


def test_a_create_that_fails_with_500_is_not_resent(studio_sim: Any) -> None:
    # Given Aiuta answering 500 to everything
    studio_sim.admin.configure(rate_500=1.0)

    # When the job is submitted, then the outcome is unknown and nothing was sent twice
    with pytest.raises(AiutaOutcomeUnknown, match="not sent again"):
        run("submit", queued_job())
    assert calls(studio_sim, "POST /on_figure_operations") == 1


def test_status_checks_on_a_failing_aiuta_raise_a_retryable_error(
    studio_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    state = run("submit", queued_job())
    studio_sim.admin.configure(rate_500=1.0)
    capsys.readouterr()
    with pytest.raises(AiutaServerError):
        run("check_status", state)
    # The client retried the GET itself before giving up to the state machine's Retry
    assert calls(studio_sim, "GET /on_figure_operations/{operation_id}") > 1
    # And the error is counted, in total and by kind, in CloudWatch's embedded metric format
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    aiuta_errors = [m for m in emitted if "AiutaErrors" in m]
    assert any(m.get("error") == "AiutaServerError" for m in aiuta_errors)
    assert any("error" not in m for m in aiuta_errors)


@pytest.mark.parametrize("outcome", ["FAILED", "CANCELLED", "ABORTED"])
def test_an_operation_that_ends_badly_is_recorded_with_aiutas_reason(studio_sim: Any, outcome: str) -> None:
    # Given Aiuta will end the operation badly
    studio_sim.admin.configure(forced_outcome=outcome)
    state = run("submit", queued_job())
    finish_operations(studio_sim)

    # When its status is checked and the failure recorded
    state = run("check_status", state)
    assert state["status"] == "FAILED"
    state = run("record_failure", state)

    # Then the job is FAILED in DynamoDB with the operation's status in the reason
    record = job_record(state["job_id"])
    assert record["status"] == "FAILED"
    assert f"ended {outcome}" in record["error"]


def test_a_paused_operation_keeps_being_polled(studio_sim: Any) -> None:
    studio_sim.admin.configure(forced_outcome="PAUSED")
    state = run("submit", queued_job())
    studio_sim.admin.advance(2)
    state = run("check_status", state)
    assert state["status"] == "WAITING"
    assert state["operations"][0]["status"] in ("PAUSED", "IN_PROGRESS", "CREATED")
    assert state["poll"]["attempt"] == 1


def test_past_the_deadline_the_job_times_out(studio_sim: Any) -> None:
    # Given an operation that never finishes and a deadline that has passed
    studio_sim.admin.configure(forced_outcome="NEVER_FINISHES")
    state = run("submit", queued_job())
    state["poll"]["deadline"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()

    # When the status is checked, then the job is TIMED_OUT with a reason
    state = run("check_status", state)
    assert state["status"] == "TIMED_OUT"
    state = run("record_failure", state)
    record = job_record(state["job_id"])
    assert record["status"] == "TIMED_OUT"
    assert "deadline" in record["error"]


def test_a_planned_regeneration_round_runs_and_adds_its_images(studio_sim: Any) -> None:
    # Given a job that plans one regeneration round for a new pose
    state = queued_job(
        regeneration={"rounds": [{"image_types": ["back/walking"], "number_of_generations": 1}]}
    )
    state = run("submit", state)
    finish_operations(studio_sim)

    # When the first round is copied, then finalize asks for the round
    state = run("finalize", run("check_status", state))
    assert state["status"] == "REGENERATE"
    assert state["pending_round"]["image_types"] == ["back/walking"]

    # When the round is started, finished, checked and copied
    state = run("regenerate", state)
    assert state["round"] == 1 and state["status"] == "WAITING"
    assert calls(studio_sim, "POST /on_figure_operations/regenerate") == 1
    finish_operations(studio_sim)
    state = run("finalize", run("check_status", state))

    # Then the job succeeded with both rounds' images
    assert state["status"] == "SUCCEEDED"
    names = [k.rsplit("/", 1)[-1] for k in outbox_keys() if k.endswith(".png")]
    assert names == ["back-walking-v1-r1.png", "front-standing-v1.png"]
    record = job_record(state["job_id"])
    assert [r["round"] for r in record["rounds"]] == [0, 1]


def test_regenerating_a_flat_lay_job_is_a_clear_error(studio_sim: Any) -> None:
    state = run("submit", queued_job(kind="flat_lay"))
    finish_operations(studio_sim)
    state = run("check_status", state)
    state["pending_round"] = {"image_types": [{"viewpoint": "back", "pose": "walking"}], "reason": "test"}
    with pytest.raises(InvalidJob, match="on-figure only"):
        run("regenerate", state)


def test_images_are_deleted_at_aiuta_after_the_copy_when_asked(studio_sim: Any) -> None:
    state = run("submit", queued_job(input_mode="upload", delete_at_aiuta_after_copy=True))
    finish_operations(studio_sim)
    state = run("finalize", run("check_status", state))
    assert state["status"] == "SUCCEEDED"
    assert calls(studio_sim, "DELETE /uploaded_images/{image_id}") == 2
    assert calls(studio_sim, "DELETE /generated_images/{image_id}") == 1
    assert job_record(state["job_id"])["deleted_at_aiuta"] is True


def test_expired_image_links_are_reported_and_regenerated_when_the_job_asks(studio_sim: Any) -> None:
    # Given a job that regenerates failed checks, whose images' links have expired before the copy
    state = queued_job(regeneration={"auto_regenerate_failed_checks": True, "max_rounds": 1})
    state = run("submit", state)
    finish_operations(studio_sim)
    state = run("check_status", state)
    studio_sim.admin.advance(10 * 24 * 3600)

    # When the round is copied
    state = run("finalize", state)

    # Then the missing image is a finding, and a regeneration round for it is planned
    assert state["status"] == "REGENERATE"
    assert "the link had expired at Aiuta" in state["pending_round"]["reason"]
    record = job_record(state["job_id"])
    assert any("expired at Aiuta" in f for f in record["rounds"][0]["findings"])


def test_the_api_key_never_reaches_logs_state_or_records(
    studio_sim: Any, sim_api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a job that runs through every task, one status check failing with a 500
    state = run("submit", queued_job(input_mode="upload"))
    studio_sim.admin.configure(rate_500=1.0)
    with pytest.raises(AiutaServerError) as failure:
        run("check_status", state)
    studio_sim.admin.configure(rate_500=0.0)
    finish_operations(studio_sim)
    state = run("finalize", run("check_status", state))

    # Then the key is in no log line, state, record, result or error
    record = job_record(state["job_id"])
    for text in (
        capsys.readouterr().out,
        json.dumps(state),
        json.dumps(record, default=str),
        str(failure.value),
    ):
        assert sim_api_key not in text


def test_a_retried_finalize_records_each_image_once(studio_sim: Any) -> None:
    # Given a round that is ready to copy
    state = run("submit", queued_job(number_of_generations=2))
    finish_operations(studio_sim)
    ready = run("check_status", state)

    # When finalize runs twice on the same state (Step Functions retried it)
    run("finalize", ready)
    again = run("finalize", ready)

    # Then the record lists each image and the round once, and the outbox has no extra objects
    assert again["status"] == "SUCCEEDED"
    record = job_record(ready["job_id"])
    assert len(record["images"]) == 2
    assert [r["round"] for r in record["rounds"]] == [0]
    assert len([k for k in outbox_keys() if k.endswith(".png")]) == 2
