"""The copy uses the answer of the check that saw the operation succeed, with moto and the simulator.

A check that sees SUCCESS keeps the answer under ``answers/<job>/<operation>.json``; the copy
reads it there instead of asking Aiuta again, unless there is none, it cannot be read, or its
links end too soon. The simulator's call log shows whether the copy asked.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from studio_core.aws.operation_answers import OperationAnswers
from studio_core.domain.keys import operation_answer_key
from tests.support.aws import BUCKET, REGION, job_record, queued_job
from tests.support.steps import calls, finish_operations, outbox_keys, run

pytestmark = pytest.mark.usefixtures("pipeline_aws", "answers_carry_unknown_fields")

READ_ON_FIGURE = "GET /on_figure_operations/{operation_id}"
READ_FLAT_LAY = "GET /flat_lay_operations/{operation_id}"


def ready_to_copy(studio_sim: Any, **document: Any) -> dict[str, Any]:
    state = run("submit", queued_job(**document))
    finish_operations(studio_sim)
    state = run("check_status", state)
    assert state["status"] == "READY"
    return state


def kept(state: dict[str, Any], index: int = 0) -> dict[str, Any]:
    key = operation_answer_key(state["job_id"], state["operations"][index]["operation_id"])
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return dict(json.loads(body))


def put_kept(state: dict[str, Any], body: bytes) -> None:
    key = operation_answer_key(state["job_id"], state["operations"][0]["operation_id"])
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=body)


def metrics_of(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def test_the_copy_uses_the_answer_the_check_kept(studio_sim: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Given both kinds of a job checked as succeeded
    state = ready_to_copy(studio_sim, kind="both", number_of_generations=2)
    reads = calls(studio_sim, READ_ON_FIGURE), calls(studio_sim, READ_FLAT_LAY)
    # And the check kept what the copy needs of each answer, and when it saw it
    for index, op in enumerate(state["operations"]):
        document = kept(state, index)
        assert document["operation_id"] == op["operation_id"]
        assert set(document["answer"]) == {"id", "status", "generation_result"}
        assert document["answer"]["status"] == "SUCCESS"
        assert datetime.fromisoformat(document["seen_at"]) <= datetime.now(UTC)
    capsys.readouterr()

    # When the round is copied
    state = run("finalize", state)

    # Then every image is in, and Aiuta was not asked for either operation again
    assert state["status"] == "SUCCEEDED"
    assert len([k for k in outbox_keys() if k.endswith(".png")]) == 4
    assert (calls(studio_sim, READ_ON_FIGURE), calls(studio_sim, READ_FLAT_LAY)) == reads
    assert any(m.get("CopiesFromKeptAnswers") == [1.0, 1.0] for m in metrics_of(capsys))


def test_without_a_kept_answer_the_copy_asks_aiuta(studio_sim: Any) -> None:
    # Given a round ready to copy whose kept answer is gone (a check that ran before this code)
    state = ready_to_copy(studio_sim)
    key = operation_answer_key(state["job_id"], state["operations"][0]["operation_id"])
    boto3.client("s3", region_name=REGION).delete_object(Bucket=BUCKET, Key=key)
    reads = calls(studio_sim, READ_ON_FIGURE)

    # When the round is copied
    state = run("finalize", state)

    # Then the copy read the operation from Aiuta, once, and copied its image
    assert state["status"] == "SUCCEEDED"
    assert calls(studio_sim, READ_ON_FIGURE) == reads + 1
    assert len([k for k in outbox_keys() if k.endswith(".png")]) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        json.dumps(
            {"operation_id": "another", "seen_at": "2026-01-01T00:00:00+00:00", "answer": {}}
        ).encode(),
        json.dumps({"seen_at": "yesterday", "answer": {}}).encode(),
    ],
    ids=["broken-json", "not-utf8", "a-list", "another-operation", "no-date"],
)
def test_an_unreadable_kept_answer_is_no_answer(studio_sim: Any, body: bytes) -> None:
    # Given a round ready to copy whose kept answer is corrupt
    state = ready_to_copy(studio_sim)
    put_kept(state, body)
    reads = calls(studio_sim, READ_ON_FIGURE)

    # When the round is copied
    state = run("finalize", state)

    # Then the copy asked Aiuta and the job succeeded
    assert state["status"] == "SUCCEEDED"
    assert calls(studio_sim, READ_ON_FIGURE) == reads + 1


def test_a_kept_answer_that_is_not_an_operation_is_no_answer(studio_sim: Any) -> None:
    # Given a kept answer of this operation whose answer is not what Aiuta answers
    state = ready_to_copy(studio_sim)
    document = kept(state)
    document["answer"] = {"generation_result": "nothing"}
    put_kept(state, json.dumps(document).encode())
    reads = calls(studio_sim, READ_ON_FIGURE)

    # When the round is copied, then Aiuta was asked and the image is in
    assert run("finalize", state)["status"] == "SUCCEEDED"
    assert calls(studio_sim, READ_ON_FIGURE) == reads + 1
    assert len([k for k in outbox_keys() if k.endswith(".png")]) == 1


@pytest.mark.parametrize("minutes_left", [9, None], ids=["expiring-in-9-minutes", "undated-seen-long-ago"])
def test_a_kept_answer_whose_links_end_too_soon_is_not_used(
    studio_sim: Any, minutes_left: int | None
) -> None:
    # Given a kept answer whose links end in 9 minutes (or carry no end, kept an hour ago)
    state = ready_to_copy(studio_sim)
    document = kept(state)
    for item in document["answer"]["generation_result"]:
        for image in item["generated_images"]:
            image["expires_at"] = (
                (datetime.now(UTC) + timedelta(minutes=minutes_left)).isoformat() if minutes_left else None
            )
    if minutes_left is None:
        document["seen_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    put_kept(state, json.dumps(document).encode())
    reads = calls(studio_sim, READ_ON_FIGURE)

    # When the round is copied
    state = run("finalize", state)

    # Then the copy asked Aiuta for fresh links
    assert state["status"] == "SUCCEEDED"
    assert calls(studio_sim, READ_ON_FIGURE) == reads + 1


def test_a_check_that_cannot_keep_the_answer_still_sends_the_job_to_copy(
    studio_sim: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given S3 refuses the kept answer
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")

    monkeypatch.setattr(OperationAnswers, "keep", refuse)
    state = run("submit", queued_job())
    finish_operations(studio_sim)
    capsys.readouterr()

    # When the check sees the operation succeed
    state = run("check_status", state)

    # Then the job goes on to the copy, and the answer not kept is counted
    assert state["status"] == "READY"
    assert any(m.get("AnswersNotKept") == [1.0] for m in metrics_of(capsys))
    # And the copy asks Aiuta and copies the image
    monkeypatch.undo()
    reads = calls(studio_sim, READ_ON_FIGURE)
    state = run("finalize", state)
    assert state["status"] == "SUCCEEDED"
    assert calls(studio_sim, READ_ON_FIGURE) == reads + 1
    assert job_record(state["job_id"])["status"] == "SUCCEEDED"


def test_a_replayed_copy_from_a_kept_answer_records_its_images_once(studio_sim: Any) -> None:
    # Given a round copied from its kept answer
    ready = ready_to_copy(studio_sim, number_of_generations=2)
    reads = calls(studio_sim, READ_ON_FIGURE)
    first = run("finalize", ready)
    versions = boto3.client("s3", region_name=REGION).list_object_versions(Bucket=BUCKET, Prefix="outbox/")

    # When Step Functions replays the copy
    again = run("finalize", ready)

    # Then it ends as the first did, writes no image again, and never asked Aiuta for the operation
    assert again["status"] == first["status"] == "SUCCEEDED"
    record = job_record(ready["job_id"])
    assert len(record["images"]) == 2
    after = boto3.client("s3", region_name=REGION).list_object_versions(Bucket=BUCKET, Prefix="outbox/")
    pngs = [v for v in after["Versions"] if v["Key"].endswith(".png")]
    assert len(pngs) == len([v for v in versions["Versions"] if v["Key"].endswith(".png")]) == 2
    assert calls(studio_sim, READ_ON_FIGURE) == reads
