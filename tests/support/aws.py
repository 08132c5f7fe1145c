"""The names the tests give the pipeline's AWS resources, and builders for its tables and records.

boto3 is imported where it is used: tests/conftest.py imports the names, and the unit tests need no boto3.
"""

from __future__ import annotations

from typing import Any

from tests.support import REPO_ROOT

REGION = "us-east-1"
BUCKET = "studio-test-bucket"
JOBS_TABLE = "studio-test-jobs"
IDEMPOTENCY_TABLE = "studio-test-idempotency"
SECRET_NAME = "studio/aiuta-api-key"
STATE_MACHINE_NAME = "studio-test-jobs"
CATALOGUE_STATE_MACHINE_NAME = "studio-test-catalogue"


def create_table_from_template(logical_id: str, name: str) -> None:
    """A table with the keys and indexes `template.yaml` gives `logical_id` (one source of truth)."""
    import boto3

    from studio_local.cfn_yaml import load_template

    properties = load_template(REPO_ROOT / "template.yaml")["Resources"][logical_id]["Properties"]
    wanted = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name, **{k: properties[k] for k in wanted if k in properties}
    )


def create_jobs_table(name: str = JOBS_TABLE) -> None:
    create_table_from_template("JobsTable", name)


def create_idempotency_table(name: str = IDEMPOTENCY_TABLE) -> None:
    create_table_from_template("IdempotencyTable", name)


def job_record(job_id: str) -> dict[str, Any] | None:
    """The typed ``JobRecord`` of a job, as the JSON a person reads (needs the table's environment)."""
    from studio_core import clients

    record = clients.jobs_table().get(job_id)
    return record.model_dump(mode="json") if record else None


def product_records(product_id: str) -> list[dict[str, Any]]:
    from studio_core import clients

    return [r.model_dump(mode="json") for r in clients.jobs_table().for_product(product_id)]


def queued_job(product_id: str = "sku-1", images: int = 2, **document: Any) -> dict[str, Any]:
    """What ingest hands an execution: a validated job, its photos in the inbox, a QUEUED record.

    Needs ``pipeline_aws``. ``document`` is the job file's content (empty: the defaults).
    """
    import boto3

    from studio_cli.samples import product_photo
    from studio_core import clients
    from studio_core.domain.jobs import JobDefaults, build_job
    from studio_core.domain.record import RequestKind

    s3 = boto3.client("s3", region_name=REGION)
    keys = []
    for i in range(images):
        key = f"inbox/{product_id}/photo-{i + 1}.jpg"
        s3.put_object(Bucket=BUCKET, Key=key, Body=product_photo("jacket", (30, 80, 50), angle=i))
        keys.append(key)
    spec = build_job(product_id, document or None, image_count=images, defaults=JobDefaults())
    job_id = f"{product_id}-job"
    clients.jobs_table().create_queued(
        job_id=job_id,
        product_id=product_id,
        spec=spec,
        request_kind=RequestKind.FOLDER,
        source_key=keys[0] if keys else f"inbox/{product_id}/product.json",
        execution_name=job_id,
        input_keys=keys,
    )
    return {"job_id": job_id, "product_id": product_id, "job": spec.to_state(), "input_keys": keys}
