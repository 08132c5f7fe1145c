"""Pay once, for what changed: the ordinary moments a store would otherwise pay twice.

A folder uploaded again, photos renamed, a double click, a regeneration request sent a hundred
times or overwritten a second later, a catalogue replaced while its run starts, two spellings of
one product, a day's budget, a cancel: each goes through ingest (or the catalogue's check) as the
pipeline runs it, against moto, and each must start exactly the work that is new.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from studio_cli.samples import product_photo
from studio_core import clients
from studio_core.aws.budget import ImageBudget
from studio_core.aws.executions import Executions, IngestQueue
from studio_core.domain.errors import JobCancelled
from studio_core.domain.jobs import JobDefaults, build_job
from studio_core.domain.outcome import Ending
from studio_core.domain.polling import PollSettings
from studio_core.domain.record import JobStatus, RequestKind
from studio_core.domain.state import JobState, OperationRef, StepStatus
from studio_core.domain.vocabulary import Kind
from studio_core.steps.catalogue_run import CatalogueRef, CatalogueRun, check_catalogue
from studio_core.steps.ingest import Ingest, handle_body
from studio_core.steps.ingest.cancels import cancel_catalogue
from tests.support.aws import BUCKET, REGION, product_records

pytestmark = pytest.mark.usefixtures("pipeline_aws")


# ---------------------------------------------------------------- the world as ingest sees it


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def put(key: str, body: bytes | str | dict[str, Any], **extra: Any) -> dict[str, str]:
    """Uploads ``body``; returns the object's version as its event names it."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    answer = s3().put_object(Bucket=BUCKET, Key=key, Body=body, **extra)
    return {"key": key, "eTag": answer["ETag"].strip('"'), "versionId": answer["VersionId"]}


def event(*objects: dict[str, str]) -> str:
    """The body S3 puts on the queue for new objects (keys URL-encoded, their versions named)."""
    return json.dumps(
        {
            "Records": [
                {"eventName": "ObjectCreated:Put", "s3": {"object": {**obj, "key": quote_plus(obj["key"])}}}
                for obj in objects
            ]
        }
    )


def context(**changes: Any) -> Ingest:
    """Ingest as its handler builds it, on the test stack (no settle delays: no queue)."""
    env = _env()
    ctx = Ingest(
        storage=clients.storage(),
        jobs=clients.jobs_table(),
        executions=Executions(env["STATE_MACHINE_ARN"]),
        queue=None,
        defaults=JobDefaults(),
        quiet_seconds=0,
        catalogues=Executions(env["CATALOGUE_STATE_MACHINE_ARN"]),
    )
    for name, value in changes.items():
        setattr(ctx, name, value)
    return ctx


def _env() -> dict[str, str]:
    import os

    return {
        name: os.environ[name]
        for name in ("STATE_MACHINE_ARN", "CATALOGUE_STATE_MACHINE_ARN", "INGEST_QUEUE_URL")
    }


def executions(machine_arn: str | None = None) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    found = sfn.list_executions(stateMachineArn=machine_arn or _env()["STATE_MACHINE_ARN"])["executions"]
    return [
        {**e, "input": json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])}
        for e in found
    ]


def upload_folder(product_id: str, *, names: tuple[str, ...] = ("a.jpg", "b.jpg"), **manifest: Any) -> None:
    for i, name in enumerate(names):
        put(f"inbox/{product_id}/{name}", product_photo("dress", (40, 90, 160), angle=i))
    put(f"inbox/{product_id}/product.json", manifest)


def drop_manifest(product_id: str, ctx: Ingest, **manifest: Any) -> list[str]:
    obj = put(f"inbox/{product_id}/product.json", manifest)
    return handle_body(ctx, event(obj))


def finished_job(product_id: str, *, max_rounds: int = 2) -> str:
    """A job whose on-figure operation succeeded (a regeneration can build on it)."""
    job_id = f"{product_id}-done"
    spec = build_job(
        product_id,
        {"image_urls": ["https://cdn.example.com/x.jpg"], "regeneration": {"max_rounds": max_rounds}},
        image_count=0,
        defaults=JobDefaults(),
    )
    jobs = clients.jobs_table()
    jobs.create_queued(
        job_id=job_id,
        product_id=product_id,
        spec=spec,
        request_kind=RequestKind.FOLDER,
        source_key=f"inbox/{product_id}/product.json",
        execution_name=job_id,
    )
    op = OperationRef(kind=Kind.ON_FIGURE, operation_id="op-1", status="SUCCESS")
    jobs.record_ending(
        job_id,
        Ending(StepStatus.SUCCEEDED),
        images=[],
        rounds=[],
        result_key="r",
        finished_at="t",
        deleted_at_aiuta=False,
        cleanup_problems=[],
        operations=[op],
    )
    return job_id


def regeneration(product_id: str, name: str, body: dict[str, Any]) -> dict[str, str]:
    return put(f"regenerate/{product_id}/{name}.json", body)


# ---------------------------------------------------------------- folders


def test_a_folder_uploaded_again_starts_nothing_and_its_job_notes_it() -> None:
    # Given a folder whose job was started
    ctx = context()
    upload_folder("again-1")
    assert drop_manifest("again-1", ctx) == ["started"]
    [job] = product_records("again-1")

    # When the same photos are uploaded again under other names, and product.json again
    upload_folder("again-1", names=("back.jpg", "front.jpg"))
    s3().delete_object(Bucket=BUCKET, Key="inbox/again-1/a.jpg")
    s3().delete_object(Bucket=BUCKET, Key="inbox/again-1/b.jpg")
    outcome = drop_manifest("again-1", ctx)

    # Then nothing starts: the work is the job's that already did it, which notes the upload
    assert outcome == ["unchanged"]
    assert len(executions()) == 1
    [noted] = product_records("again-1")
    assert noted["job_id"] == job["job_id"]
    assert noted["unchanged_requests"] == 1 and noted["last_unchanged_source"] == "inbox/again-1/product.json"


def test_a_changed_photo_or_setting_is_new_work() -> None:
    ctx = context()
    upload_folder("change-1")
    drop_manifest("change-1", ctx)

    # A setting that changes what Aiuta makes: a new job
    assert drop_manifest("change-1", ctx, number_of_generations=2) == ["started"]
    # Only a title: the same work
    assert drop_manifest("change-1", ctx, number_of_generations=2, product={"title": "New"}) == ["unchanged"]
    # A photo retouched: new work again
    put("inbox/change-1/a.jpg", product_photo("dress", (200, 90, 40)))
    assert drop_manifest("change-1", ctx, number_of_generations=2) == ["started"]
    records = product_records("change-1")
    assert len(records) == 3 and {r["novelty"] for r in records} == {"new", "changed"}


def test_force_asks_for_a_new_generation_and_is_recorded_as_such() -> None:
    ctx = context()
    upload_folder("force-1")
    drop_manifest("force-1", ctx)

    # When the same folder is uploaded with "force": true, twice (a double click)
    assert drop_manifest("force-1", ctx, force=True) == ["started"]
    again = put("inbox/force-1/product.json", {"force": True})
    handle_body(ctx, event(again))
    handle_body(ctx, event(again))  # the same version delivered twice

    # Then each forcing upload is one new job, recorded as forced; a redelivery is nothing
    records = product_records("force-1")
    assert [r.get("forced", False) for r in records] == [False, True, True]
    assert len(executions()) == 3


def test_studio_submit_force_sets_metadata_any_tool_can_set() -> None:
    ctx = context()
    upload_folder("meta-1")
    drop_manifest("meta-1", ctx)
    obj = put("inbox/meta-1/product.json", {}, Metadata={"force": "true"})
    assert handle_body(ctx, event(obj)) == ["started"]
    assert product_records("meta-1")[-1]["forced"] is True


def test_product_ids_differing_only_in_case_are_one_product_the_second_refused() -> None:
    ctx = context()
    upload_folder("Shirt-1")
    drop_manifest("Shirt-1", ctx)
    upload_folder("shirt-1")

    outcome = drop_manifest("shirt-1", ctx)

    assert outcome == ["rejected"]
    [refused] = product_records("shirt-1")
    assert "already known as 'Shirt-1'" in refused["error"]
    assert len(executions()) == 1


def test_each_photo_is_read_and_sent_at_the_version_ingest_checked() -> None:
    ctx = context()
    upload_folder("ver-1")
    drop_manifest("ver-1", ctx)
    [execution] = executions()
    versions = execution["input"]["input_versions"]
    assert set(versions) == {"inbox/ver-1/a.jpg", "inbox/ver-1/b.jpg"}
    # The version is the one stored now; an overwrite later makes a new version, not this one
    head = s3().head_object(Bucket=BUCKET, Key="inbox/ver-1/a.jpg")
    assert versions["inbox/ver-1/a.jpg"] == head["VersionId"]


# ---------------------------------------------------------------- regeneration requests


@pytest.mark.slow
def test_a_storm_of_identical_regeneration_requests_is_one_round() -> None:
    # Given a finished job, and 100 identical requests for it
    base = finished_job("storm-1")
    ctx = context()
    requests = [
        regeneration("storm-1", f"storm-{i:03}", {"job_id": base, "image_types": ["back/walking"]})
        for i in range(100)
    ]

    # When they all arrive
    outcomes = handle_body(ctx, event(*requests))

    # Then one round runs; the other 99 found it
    assert outcomes.count("started") == 1 and outcomes.count("unchanged") == 99
    assert len(executions()) == 1


def test_an_overwritten_request_is_read_at_the_version_its_event_named() -> None:
    # Given a request overwritten within a second: v1 asks back/walking, v2 side/sitting
    base = finished_job("over-1", max_rounds=4)
    ctx = context()
    v1 = regeneration("over-1", "r", {"job_id": base, "image_types": ["back/walking"]})
    v2 = regeneration("over-1", "r", {"job_id": base, "image_types": ["side/sitting"]})

    # When v1's event arrives (after v2 was written), then v2's once v1's round has ended
    handle_body(ctx, event(v1))
    first = product_records("over-1")[-1]
    clients.jobs_table().record_ending(
        first["job_id"], Ending(StepStatus.FAILED, "x"), finished_at="t", operations=[]
    )
    handle_body(ctx, event(v2))

    # Then each version ran its own round: back/walking, then side/sitting
    rounds = sorted(e["input"]["pending_round"]["image_types"][0] for e in executions())
    assert rounds == ["back/walking", "side/sitting"]


def test_requests_for_one_job_take_turns() -> None:
    base = finished_job("turns-1", max_rounds=4)
    queue = IngestQueue(_env()["INGEST_QUEUE_URL"])
    ctx = context(queue=queue)
    first = regeneration("turns-1", "a", {"job_id": base, "image_types": ["back/walking"]})
    second = regeneration("turns-1", "b", {"job_id": base, "image_types": ["side/sitting"]})

    # When both arrive while the first's round has not ended
    assert handle_body(ctx, event(first, second)) == ["started", "waiting"]

    # Then the second waits on the queue for its turn; it runs once the first has ended
    sqs = boto3.client("sqs", region_name=REGION)
    delayed = sqs.get_queue_attributes(
        QueueUrl=queue.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    turn = json.dumps(
        {"regeneration_turn": {"product_id": "turns-1", "key": second["key"], "object": second, "attempt": 2}}
    )
    assert handle_body(ctx, turn) == ["waiting"]
    running = [r for r in product_records("turns-1") if r["request_kind"] == "regeneration"]
    clients.jobs_table().record_ending(
        running[0]["job_id"], Ending(StepStatus.FAILED, "x"), finished_at="t", operations=[]
    )
    assert handle_body(ctx, turn) == ["started"]


def test_a_request_past_the_jobs_max_rounds_is_refused_with_the_reason() -> None:
    # Given a job allowing one round, which has had it
    base = finished_job("cap-1", max_rounds=1)
    ctx = context()
    handle_body(ctx, event(regeneration("cap-1", "a", {"job_id": base, "image_types": ["back/walking"]})))
    first = next(r for r in product_records("cap-1") if r["request_kind"] == "regeneration")
    clients.jobs_table().mark_generating(
        first["job_id"],
        operations=[OperationRef(kind=Kind.ON_FIGURE, operation_id="op-2", round=1)],
        submitted_at="t",
        input_mode="urls",
    )
    clients.jobs_table().record_ending(
        first["job_id"],
        Ending(StepStatus.FAILED, "x"),
        finished_at="t",
        operations=[OperationRef(kind=Kind.ON_FIGURE, operation_id="op-2", round=1)],
    )

    # When another round is asked for
    second = regeneration("cap-1", "b", {"job_id": base, "image_types": ["side/sitting"]})
    assert handle_body(ctx, event(second)) == ["rejected"]

    # Then its error report says why, and nothing started
    report = json.loads(s3().get_object(Bucket=BUCKET, Key=second["key"] + ".error.json")["Body"].read())
    assert "has had 1 regeneration round(s) and may have 1" in report["error"]
    assert len(executions()) == 1


# ---------------------------------------------------------------- catalogues


def catalogue_run(**changes: Any) -> CatalogueRun:
    run = CatalogueRun(storage=clients.storage(), jobs=clients.jobs_table(), defaults=JobDefaults())
    for name, value in changes.items():
        setattr(run, name, value)
    return run


def catalogue_ref(obj: dict[str, str], run_name: str = "run-1") -> CatalogueRef:
    return CatalogueRef(
        bucket=BUCKET,
        key=obj["key"],
        etag=obj["eTag"],
        version_id=obj["versionId"],
        format="csv",
        report_prefix=f"{obj['key']}.report/",
        run_name=run_name,
    )


def read(key: str) -> Any:
    return json.loads(s3().get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_catalogue_replaced_a_second_later_is_read_at_its_own_version() -> None:
    v1 = put("inbox/swap.csv", "id,image_urls\nswap-a,https://cdn.example.com/a.jpg\n")
    put("inbox/swap.csv", "id,image_urls\nswap-b,https://cdn.example.com/b.jpg\n")

    # When the first upload's run checks its rows (after the second was written)
    check_catalogue(catalogue_run(), catalogue_ref(v1))

    # Then it checked the first version's rows, not the second's
    assert [r["product_id"] for r in read("inbox/swap.csv.report/checked.json")["rows"]] == ["swap-a"]


def test_the_quote_says_what_will_be_paid_before_anything_is() -> None:
    body = (
        "id,image_urls,number_of_generations,on_figure_image_types\n"
        "q-1,https://cdn.example.com/1.jpg,2,front/standing;back/walking\n"
        "q-2,https://cdn.example.com/2.jpg,,\n"
        "q-3,https://cdn.example.com/3.jpg,9,\n"
    )
    answer = check_catalogue(catalogue_run(), catalogue_ref(put("inbox/quote.csv", body)))

    quote = read("inbox/quote.csv.report/checked.json")["quote"]
    assert {k: quote[k] for k in ("rows", "new", "rejected", "operations", "images")} == {
        "rows": 3,
        "new": 2,
        "rejected": 1,
        "operations": 2,
        "images": 5,
    }
    assert answer["to_run"] == 2
    items = read(answer["run_items"])
    assert [item["product_id"] for item in items] == ["q-1", "q-2"]
    assert all(r["quote"]["images"] > 0 for r in product_records("q-1"))


def test_rows_past_the_catalogues_image_limit_are_refused_in_file_order_with_the_reason() -> None:
    body = "id,image_urls,number_of_generations\n" + "".join(
        f"lim-{i},https://cdn.example.com/{i}.jpg,2\n" for i in range(5)
    )
    check_catalogue(catalogue_run(images_per_catalogue=5), catalogue_ref(put("inbox/limit.csv", body)))

    rows = read("inbox/limit.csv.report/checked.json")["rows"]
    assert [r["outcome"] for r in rows] == ["new", "new", "over_budget", "over_budget", "over_budget"]
    assert "ImagesPerCatalogueLimit" in rows[2]["reason"]
    assert product_records("lim-2")[0]["status"] == "FAILED"


def test_the_days_budget_holds_across_catalogues_and_folders() -> None:
    budget = ImageBudget(clients.jobs_table()._table.name, images_per_day=3)
    body = "id,image_urls\n" + "".join(f"day-{i},https://cdn.example.com/{i}.jpg\n" for i in range(2))
    check_catalogue(catalogue_run(budget=budget), catalogue_ref(put("inbox/day.csv", body)))
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert budget.used(day) == 2

    # A folder asking for 2 more images does not fit the 1 left: refused, nothing started
    ctx = context(budget=budget)
    upload_folder("day-folder")
    assert drop_manifest("day-folder", ctx, number_of_generations=2) == ["rejected"]
    [refused] = product_records("day-folder")
    assert "over the image budget" in refused["error"] and "ImagesPerDayLimit" in refused["error"]
    # One that fits runs, and the day is full
    assert drop_manifest("day-folder", ctx) == ["started"]
    assert budget.used(day) == 3


def test_a_catalogue_checked_twice_charges_the_budget_once() -> None:
    budget = ImageBudget(clients.jobs_table()._table.name, images_per_day=100)
    obj = put("inbox/twice.csv", "id,image_urls\ntw-1,https://cdn.example.com/1.jpg\n")
    check_catalogue(catalogue_run(budget=budget), catalogue_ref(obj))
    check_catalogue(catalogue_run(budget=budget), catalogue_ref(obj))  # a retried task
    assert budget.used(datetime.now(UTC).strftime("%Y-%m-%d")) == 1
    assert len(product_records("tw-1")) == 1


# ---------------------------------------------------------------- cancel


def test_cancelling_a_catalogue_stops_its_jobs_before_they_pay() -> None:
    from studio_core.aiuta.client import AiutaStudioClient  # noqa: F401 - submit's client type
    from studio_core.steps.submit import submit_job

    body = "id,image_urls\n" + "".join(f"cx-{i},https://cdn.example.com/{i}.jpg\n" for i in range(3))
    answer = check_catalogue(catalogue_run(), catalogue_ref(put("inbox/cancel.csv", body)))
    items = read(answer["run_items"])

    # When the store cancels the catalogue
    jobs = clients.jobs_table()
    done = cancel_catalogue(
        clients.storage(), jobs, "cancel.csv", by="ops@example.com", at="2026-12-07T10:00:00+00:00"
    )

    # Then every job that had not created anything is CANCELLED, with who and when
    assert sorted(done.stopped) == sorted(item["job_id"] for item in items)
    record = jobs.get(items[0]["job_id"])
    assert record is not None and record.status is JobStatus.CANCELLED
    assert (record.cancelled_by, record.cancel_requested_at) == (
        "ops@example.com",
        "2026-12-07T10:00:00+00:00",
    )

    # And a job execution that reaches its submit anyway creates nothing
    state = JobState.model_validate(items[0]["input"])
    with pytest.raises(JobCancelled):
        submit_job(
            state,
            client=None,  # type: ignore[arg-type]
            storage=clients.storage(),
            jobs=jobs,
            create=lambda key, order: pytest.fail("a cancelled job must not create"),  # type: ignore[arg-type,return-value]
            poll=PollSettings(),
            estimates=None,  # type: ignore[arg-type]
            url_ttl_seconds=900,
        )


def test_a_cancel_file_cancels_and_answers_beside_it() -> None:
    ctx = context()
    upload_folder("cf-1")
    drop_manifest("cf-1", ctx)
    [job] = product_records("cf-1")
    obj = put("cancel/stop-cf-1.json", {"job_id": job["job_id"], "by": "feed tool"})

    assert handle_body(ctx, event(obj)) == ["started"]

    answer = read("cancel/stop-cf-1.json.done.json")
    assert answer["stopped_before_paying"] == [job["job_id"]] and answer["by"] == "feed tool"
    assert product_records("cf-1")[0]["status"] == "CANCELLED"
