"""The jobs table answers the three questions people ask: this job, this product's jobs, jobs by status."""

from __future__ import annotations

import pytest

from studio_core.aws.jobs_table import JobRecordStatus, JobsTable
from tests.conftest import JOBS_TABLE


@pytest.fixture
def table(studio_aws: dict[str, str]) -> JobsTable:
    return JobsTable(JOBS_TABLE)


def test_a_job_is_created_once_and_found_by_id_product_and_status(table: JobsTable) -> None:
    # Given a new job
    assert table.create(
        job_id="sku-1-aaaa", product_id="sku-1", status=JobRecordStatus.QUEUED, spec={"n": 1.5}
    )

    # When the same job is written again (a duplicate S3 event)
    created_again = table.create(job_id="sku-1-aaaa", product_id="sku-1", status=JobRecordStatus.QUEUED)

    # Then nothing changes, and every lookup finds the one job
    assert created_again is False
    job = table.get("sku-1-aaaa")
    assert job is not None
    assert job["spec"] == {"n": 1.5}
    assert [j["job_id"] for j in table.for_product("sku-1")] == ["sku-1-aaaa"]
    assert [j["job_id"] for j in table.with_status(JobRecordStatus.QUEUED)] == ["sku-1-aaaa"]


def test_updating_the_status_moves_the_job_between_status_lookups(table: JobsTable) -> None:
    table.create(job_id="j1", product_id="p", status=JobRecordStatus.QUEUED)

    table.update("j1", status=JobRecordStatus.FAILED, error="Aiuta said no", images=[{"variant": 1}])

    assert table.with_status(JobRecordStatus.QUEUED) == []
    failed = table.with_status(JobRecordStatus.FAILED)
    assert [j["job_id"] for j in failed] == ["j1"]
    assert failed[0]["error"] == "Aiuta said no"
    assert failed[0]["images"] == [{"variant": 1}]
    assert JobRecordStatus.FAILED.is_terminal
    assert not JobRecordStatus.GENERATING.is_terminal


def test_a_products_jobs_come_oldest_first(table: JobsTable) -> None:
    for job_id in ("first", "second", "third"):
        table.create(job_id=job_id, product_id="sku-9", status=JobRecordStatus.QUEUED)
    table.create(job_id="other", product_id="sku-10", status=JobRecordStatus.QUEUED)

    assert [j["job_id"] for j in table.for_product("sku-9")] == ["first", "second", "third"]
    assert len(table.all_jobs()) == 4
