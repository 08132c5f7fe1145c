"""The jobs table answers the three questions people ask: this job, this product's jobs, jobs by status."""

from __future__ import annotations

import json

import pytest
from boto3.dynamodb.conditions import Key

from studio_core.aws.jobs_table import JobsTable
from studio_core.domain.jobs import JobDefaults, build_job
from studio_core.domain.outcome import Ending
from studio_core.domain.record import ImageRecord, JobStatus, RequestKind, RoundRecord
from studio_core.domain.state import OperationRef, StepStatus
from studio_core.domain.vocabulary import Kind, image_type_from_label
from tests.support.aws import JOBS_TABLE

DYNAMODB_ITEM_LIMIT = 400 * 1024


@pytest.fixture
def table(studio_aws: dict[str, str]) -> JobsTable:
    return JobsTable(JOBS_TABLE)


def queue(table: JobsTable, job_id: str, product_id: str = "sku-1", **document: object) -> bool:
    spec = build_job(product_id, document or None, image_count=1, defaults=JobDefaults())
    return table.create_queued(
        job_id=job_id,
        product_id=product_id,
        spec=spec,
        request_kind=RequestKind.FOLDER,
        source_key=f"inbox/{product_id}/product.json",
        execution_name=job_id,
        input_keys=[f"inbox/{product_id}/a.jpg"],
    )


def test_a_job_is_created_once_and_found_by_id_product_and_status(table: JobsTable) -> None:
    # Given a new job
    assert queue(table, "sku-1-aaaa", number_of_generations=2)

    # When the same job is written again (a duplicate S3 event)
    created_again = queue(table, "sku-1-aaaa")

    # Then nothing changes, and every lookup finds the one job, typed
    assert created_again is False
    job = table.get("sku-1-aaaa")
    assert job is not None
    assert job.job is not None and job.job.number_of_generations == 2
    assert job.status is JobStatus.QUEUED
    assert job.request_kind is RequestKind.FOLDER
    assert [j.job_id for j in table.for_product("sku-1")] == ["sku-1-aaaa"]
    assert [j.job_id for j in table.with_status(JobStatus.QUEUED)] == ["sku-1-aaaa"]


def test_a_failure_moves_the_job_between_status_lookups(table: JobsTable) -> None:
    queue(table, "j1", product_id="p")

    table.record_ending(
        "j1", Ending(StepStatus.FAILED, "Aiuta said no"), finished_at="2026-12-01T00:00:00", operations=[]
    )

    assert table.with_status(JobStatus.QUEUED) == []
    [failed] = table.with_status(JobStatus.FAILED)
    assert failed.job_id == "j1"
    assert failed.error == "Aiuta said no"
    assert JobStatus.FAILED.is_terminal
    assert not JobStatus.GENERATING.is_terminal


def test_a_rejection_is_a_failed_job_without_a_spec(table: JobsTable) -> None:
    assert table.record_rejection(
        job_id="bad-1", product_id="bad", source_key="inbox/bad/product.json", error="no", finished_at="t"
    )
    record = table.get("bad-1")
    assert record is not None
    assert (record.status, record.job, record.error) == (JobStatus.FAILED, None, "no")


def test_a_products_jobs_come_oldest_first(table: JobsTable) -> None:
    for job_id in ("first", "second", "third"):
        queue(table, job_id, product_id="sku-9")
    queue(table, "other", product_id="sku-10")

    assert [j.job_id for j in table.for_product("sku-9")] == ["first", "second", "third"]
    assert len(table.all_jobs()) == 4


def test_a_job_of_140_images_fits_well_within_an_item(table: JobsTable) -> None:
    # Given the largest job Aiuta allows: 35 on-figure types x 4 variants, and 5 regeneration rounds
    labels = [
        f"{v}/{p}"
        for v in ("front", "front_angled", "back", "back_angled", "side")
        for p in (
            "standing",
            "walking",
            "sitting",
            "leaning",
            "crouching_or_kneeling",
            "in_action",
            "close_up",
        )
    ]
    queue(table, "big", product_id="big", number_of_generations=4, image_types=labels)
    types = [image_type_from_label(label) for label in labels]
    operations = [
        OperationRef(
            kind=Kind.ON_FIGURE,
            operation_id=f"op-{r}-" + "x" * 30,
            round=r,
            image_types=types,
            number_of_generations=4,
            status="SUCCESS",
        )
        for r in range(6)
    ]
    images = [
        ImageRecord(
            kind=Kind.ON_FIGURE,
            image_type=t,
            variant=v,
            round=0,
            key=f"outbox/big/big/on_figure/{t.label.replace('/', '-')}-v{v}.png",
            aiuta_image_id="img-" + "y" * 32,
            source_url="https://cdn.aiuta.example/generated/" + "z" * 60,
            width=1536,
            height=2048,
        )
        for t in types
        for v in range(1, 5)
    ]
    rounds = [
        RoundRecord(round=r, findings=[f"{t.label}: 3 of 4 images arrived" for t in types]) for r in range(6)
    ]

    # When every round's operations, images and findings are recorded
    table.mark_regenerating("big", round_=5, operations=operations)
    table.record_ending(
        "big",
        Ending(StepStatus.SUCCEEDED),
        images=images,
        rounds=rounds,
        result_key="outbox/big/big/result.json",
        finished_at="t",
        deleted_at_aiuta=False,
        cleanup_problems=[],
        operations=operations,
    )

    # Then the item reads back whole, at a fraction of DynamoDB's 400 KB item limit
    record = table.get("big")
    assert record is not None and len(record.images) == 140
    size = len(json.dumps(record.model_dump(mode="json")).encode())
    assert size < DYNAMODB_ITEM_LIMIT / 4, size


def test_the_largest_job_records_every_round_with_the_longest_product_id(table: JobsTable) -> None:
    # Given the largest job Aiuta allows, under a 100-character product id: 35 on-figure types x 4
    # variants in each of six rounds (840 images), each with its key, Aiuta's id and link
    product = "p" * 100
    job_id = f"{product}-0123456789abcdef-01234567"
    labels = [
        f"{v}/{p}"
        for v in ("front", "front_angled", "back", "back_angled", "side")
        for p in (
            "standing",
            "walking",
            "sitting",
            "leaning",
            "crouching_or_kneeling",
            "in_action",
            "close_up",
        )
    ]
    queue(table, job_id, product_id=product, number_of_generations=4, image_types=labels)
    types = [image_type_from_label(label) for label in labels]
    images: list[ImageRecord] = []
    for r in range(6):
        images += [
            ImageRecord(
                kind=Kind.ON_FIGURE,
                image_type=t,
                variant=v,
                round=r,
                key=f"outbox/{product}/{job_id}/on_figure/{t.label.replace('/', '-')}-v{v}-r{r}.png",
                aiuta_image_id="img-" + "y" * 60,
                source_url="https://cdn.aiuta.example/generated/" + "z" * 120,
                width=1536,
                height=2048,
                error=None if v < 4 else "the image is 1024x1024, not the 1536x2048 asked for",
            )
            for t in types
            for v in range(1, 5)
        ]
        # When each round is recorded as it is copied (the job item would outgrow 400 KB by round 3)
        table.record_round(
            job_id, images=images, rounds=[RoundRecord(round=n) for n in range(r + 1)], result_key="r"
        )

    # Then the job reads back whole, and no item is near DynamoDB's limit
    record = table.get(job_id)
    assert record is not None and len(record.images) == 840
    assert record.image_counts() == (840, 0)
    items = table._table.query(KeyConditionExpression=Key("pk").eq(f"JOB#{job_id}"))["Items"]
    largest = max(len(json.dumps(item, default=str).encode()) for item in items)
    assert len(items) == 7 and largest < DYNAMODB_ITEM_LIMIT / 2, largest
    # and lists of jobs carry the counts
    [listed] = table.for_product(product)
    assert listed.image_counts() == (840, 0) and listed.images == []


def test_a_job_never_recorded_is_not_half_written(table: JobsTable) -> None:
    with pytest.raises(LookupError, match="is not recorded"):
        table.mark_copying("never-recorded")
    assert table.get("never-recorded") is None
