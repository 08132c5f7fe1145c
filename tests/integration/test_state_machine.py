"""The real state machine, executed by moto's Step Functions interpreter, with the real handlers.

Each Task's Lambda is served in-process by ``functions/<name>/app.py`` (``serve_lambdas``), the
AWS side is a moto server (so the simulator can download presigned S3 URLs), and the simulator
stands in for Aiuta. Waits are real but short: the poll settings give 1 s waits and the
simulator finishes operations in about a second.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from studio_core import clients
from studio_core.domain.errors import AiutaServerError
from studio_core.domain.jobs import JobSpec
from studio_core.domain.record import RequestKind
from tests.support.aws import BUCKET, REGION, job_record, queued_job
from tests.support.lambdas import load_handler
from tests.support.stepfunctions import (
    TASK_FUNCTIONS,
    create_state_machine,
    create_task_functions,
    entered_states,
    render_definition,
    run_execution,
    serve_lambdas,
)

POLL_LOOP = ["Wait for Aiuta", "Check operation status", "Is the generation finished?"]


@pytest.fixture
def machine(pipeline_aws: dict[str, str], _moto_server: str, studio_sim: Any) -> Iterator[str]:
    """The studio job state machine in moto, executing, with the simulator's operations short."""

    def set_execution(on: bool) -> None:
        config = {"stepfunctions": {"execute_state_machine": on}}
        requests.post(f"{_moto_server}/moto-api/config", json=config, timeout=10).raise_for_status()

    # Tolerant reading: every answer carries fields and enum values the contract does not define.
    studio_sim.admin.configure(operation_seconds=1.0, extra_answer_fields=True)
    set_execution(True)
    substitutions = create_task_functions()
    yield create_state_machine(render_definition(substitutions, fast_retries=True))
    set_execution(False)


def real_handlers(**overrides: Any) -> dict[str, Any]:
    handlers = {name: load_handler(name).lambda_handler for name in TASK_FUNCTIONS.values()}
    return {**handlers, **overrides}


def execute(machine: str, payload: dict[str, Any], handlers: dict[str, Any] | None = None) -> dict[str, Any]:
    with serve_lambdas(handlers or real_handlers()) as served:
        described = run_execution(machine, payload, name=payload["job_id"], timeout_seconds=60)
    described["states"] = entered_states(described["executionArn"])
    described["invocations"] = served.names()
    described["record"] = job_record(payload["job_id"])
    return described


def outbox_images(product_id: str = "sku-1") -> list[str]:
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(
        Bucket=BUCKET, Prefix=f"outbox/{product_id}/"
    )
    return sorted(
        o["Key"].rsplit("/", 1)[-1] for o in listed.get("Contents", []) if o["Key"].endswith(".png")
    )


def test_an_on_figure_job_with_url_inputs_succeeds(machine: str) -> None:
    # When a job runs from start to end
    run = execute(machine, queued_job(image_types=["front/standing", "back/walking"]))

    # Then the execution succeeded through the poll loop, and the images are in the outbox
    assert run["status"] == "SUCCEEDED"
    assert run["states"][:3] == [
        "New job or regeneration request?",
        "Submit generation to Aiuta",
        "Wait for Aiuta",
    ]
    assert run["states"][-3:] == ["Copy results to S3", "Another regeneration round?", "Job succeeded"]
    assert outbox_images() == ["back-walking-v1.png", "front-standing-v1.png"]
    assert run["record"]["status"] == "SUCCEEDED"
    assert json.loads(run["output"])["images_copied"] == 2


@pytest.mark.slow
def test_a_job_of_both_kinds_with_uploaded_bytes_succeeds(machine: str, studio_sim: Any) -> None:
    run = execute(machine, queued_job(kind="both", input_mode="upload", number_of_generations=2))
    assert run["status"] == "SUCCEEDED"
    assert outbox_images() == [
        "front-standing-v1.png",
        "front-standing-v2.png",
        "ghost_mannequin-front-v1.png",
        "ghost_mannequin-front-v2.png",
    ]
    assert studio_sim.admin.calls()["calls"]["POST /studio/v1/uploaded_images"] == 2


@pytest.mark.parametrize("outcome", ["FAILED", "CANCELLED", "ABORTED"])
def test_an_operation_that_ends_badly_fails_the_job_with_its_reason(
    machine: str, studio_sim: Any, outcome: str
) -> None:
    studio_sim.admin.configure(forced_outcome=outcome)
    run = execute(machine, queued_job())
    assert run["status"] == "FAILED"
    assert run["states"][-3:] == ["Record failure", "Failed or timed out?", "Job failed"]
    assert run["record"]["status"] == "FAILED"
    assert f"ended {outcome}" in run["record"]["error"]
    assert outbox_images() == []


def test_a_job_whose_flat_lay_failed_ends_partly_succeeded_with_the_on_figure_images(machine: str) -> None:
    # Given a job of both kinds whose flat-lay operation Aiuta fails
    run = execute(machine, queued_job(kind="both", product={"description": "[sim:flat_lay:FAILED]"}))

    # Then the execution ends in "Job partly succeeded", the on-figure images copied
    assert run["status"] == "SUCCEEDED"
    assert run["states"][-3:] == ["Copy results to S3", "Another regeneration round?", "Job partly succeeded"]
    assert outbox_images() == ["front-standing-v1.png"]
    assert run["record"]["status"] == "PARTIAL"
    assert "the flat_lay operation" in run["record"]["error"]


@pytest.mark.slow
def test_a_paused_operation_is_polled_until_it_succeeds(machine: str, studio_sim: Any) -> None:
    studio_sim.admin.configure(forced_outcome="PAUSED", paused_seconds=1.5)
    run = execute(machine, queued_job())
    assert run["status"] == "SUCCEEDED"
    assert run["states"].count("Check operation status") >= 2
    assert "PAUSED" in json.dumps(run["record"]) or run["states"].count("Wait for Aiuta") >= 2


@pytest.mark.slow
def test_an_operation_that_never_finishes_times_out_at_the_deadline(
    machine: str, studio_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a 3 s deadline (a template parameter) and an operation that never finishes
    monkeypatch.setenv("JOB_DEADLINE_ONLINE_SECONDS", "3")
    studio_sim.admin.configure(forced_outcome="NEVER_FINISHES")
    handlers = real_handlers(
        submit=load_handler("submit", cold_start=True).lambda_handler,
        check_status=load_handler("check_status", cold_start=True).lambda_handler,
    )
    try:
        run = execute(machine, queued_job(), handlers)
    finally:
        monkeypatch.delenv("JOB_DEADLINE_ONLINE_SECONDS")
        load_handler("submit", cold_start=True)
        load_handler("check_status", cold_start=True)

    # Then the job is TIMED_OUT with the deadline in its reason
    assert run["status"] == "FAILED"
    assert run["record"]["status"] == "TIMED_OUT"
    assert "deadline" in run["record"]["error"]


@pytest.mark.slow
def test_a_passing_aiuta_fault_is_retried_and_the_job_succeeds(machine: str) -> None:
    # Given a status check that fails once with a server error, then works
    real_check = load_handler("check_status").lambda_handler
    failures = []

    def flaky_check(event: dict[str, Any], context: Any) -> Any:
        if not failures:
            failures.append(1)
            raise AiutaServerError("Aiuta answered 503: simulated", status_code=503)
        return real_check(event, context)

    run = execute(machine, queued_job(), real_handlers(check_status=flaky_check))

    # Then the state machine retried the task and the job succeeded
    assert run["status"] == "SUCCEEDED"
    assert run["invocations"].count("check_status") >= 2


@pytest.mark.slow
def test_a_lasting_aiuta_outage_is_caught_and_recorded(machine: str, studio_sim: Any) -> None:
    # Given Aiuta answers 500 to every status check (after the operation was created)
    handlers = real_handlers()
    real_submit = handlers["submit"]

    def submit_then_break(event: dict[str, Any], context: Any) -> Any:
        result = real_submit(event, context)
        studio_sim.admin.configure(rate_500=1.0)
        return result

    run = execute(machine, queued_job(), {**handlers, "submit": submit_then_break})

    # Then the retries ran out, the error was caught and the job FAILED with the error's name
    assert run["status"] == "FAILED"
    assert run["record"]["status"] == "FAILED"
    assert run["record"]["error"].startswith("AiutaServerError:")
    assert run["invocations"].count("check_status") > 1


@pytest.mark.slow
def test_a_planned_regeneration_round_runs_through_the_same_loop(machine: str, studio_sim: Any) -> None:
    run = execute(machine, queued_job(regeneration={"rounds": [{"image_types": ["side/sitting"]}]}))
    assert run["status"] == "SUCCEEDED"
    assert "Start regeneration round" in run["states"]
    after_regeneration = run["states"][run["states"].index("Start regeneration round") + 1 :]
    assert after_regeneration[:3] == POLL_LOOP
    assert outbox_images() == ["front-standing-v1.png", "side-sitting-v1-r1.png"]
    assert studio_sim.admin.calls()["calls"]["POST /studio/v1/on_figure_operations/regenerate"] == 1
    assert [r["round"] for r in run["record"]["rounds"]] == [0, 1]


@pytest.mark.slow
def test_a_regeneration_request_starts_at_its_round(machine: str) -> None:
    # Given a product whose first job succeeded
    first = execute(machine, queued_job())
    assert first["status"] == "SUCCEEDED"
    operation = first["record"]["operations"][0]

    # When a regeneration execution starts with that operation and new types (what ingest sends)
    regeneration = {
        "job_id": "sku-1-regen",
        "product_id": "sku-1",
        "job": first["record"]["job"],
        "operations": [operation],
        "pending_round": {"image_types": [{"viewpoint": "back", "pose": "walking"}], "reason": "test"},
    }
    clients.jobs_table().create_queued(
        job_id="sku-1-regen",
        product_id="sku-1",
        spec=JobSpec.model_validate(first["record"]["job"]),
        request_kind=RequestKind.REGENERATION,
        source_key="regenerate/sku-1.json",
        execution_name="sku-1-regen",
    )
    run = execute(machine, regeneration)

    # Then it regenerated the new type from the original operation
    assert run["status"] == "SUCCEEDED"
    assert run["record"]["operations"][-1]["image_types"] == ["back/walking"]
    assert "back-walking-v1-r1.png" in outbox_images()
