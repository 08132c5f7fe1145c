"""The jobs table: one item per job, findable by job, by product, and by status.

Keys (see the README): ``pk = JOB#<job_id>``, ``sk = JOB``; GSI1 ``gsi1pk = PRODUCT#<product_id>``,
``gsi1sk = <created_at>#<job_id>`` (a product's jobs, oldest first); GSI2
``gsi2pk = STATUS#<status>``, ``gsi2sk = <updated_at>#<job_id>`` (jobs by status).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key

PRODUCT_INDEX = "ByProduct"
STATUS_INDEX = "ByStatus"


class JobRecordStatus(StrEnum):
    QUEUED = "QUEUED"  # validated; the execution is starting
    GENERATING = "GENERATING"  # operations created at Aiuta, being polled
    COPYING = "COPYING"
    REGENERATING = "REGENERATING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def is_terminal(self) -> bool:
        return self in (JobRecordStatus.SUCCEEDED, JobRecordStatus.FAILED, JobRecordStatus.TIMED_OUT)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _to_dynamo(value: Any) -> Any:
    # DynamoDB wants Decimal, not float; a JSON round trip also turns datetimes into text.
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


class JobsTable:
    def __init__(self, table_name: str, dynamodb_resource: Any | None = None) -> None:
        self._table = (dynamodb_resource or boto3.resource("dynamodb")).Table(table_name)

    def create(self, *, job_id: str, product_id: str, status: JobRecordStatus, **attributes: Any) -> bool:
        """Writes a new job; returns False (and changes nothing) when the job already exists."""
        now = utc_now()
        item = {
            "pk": f"JOB#{job_id}",
            "sk": "JOB",
            "job_id": job_id,
            "product_id": product_id,
            "status": status.value,
            "created_at": now,
            "updated_at": now,
            "gsi1pk": f"PRODUCT#{product_id}",
            "gsi1sk": f"{now}#{job_id}",
            "gsi2pk": f"STATUS#{status.value}",
            "gsi2sk": f"{now}#{job_id}",
            **attributes,
        }
        try:
            self._table.put_item(Item=_to_dynamo(item), ConditionExpression="attribute_not_exists(pk)")
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def update(self, job_id: str, *, status: JobRecordStatus | None = None, **attributes: Any) -> None:
        """Sets attributes (and the status with its index keys) on an existing job."""
        now = utc_now()
        values: dict[str, Any] = {"updated_at": now, **attributes}
        if status is not None:
            values.update(status=status.value, gsi2pk=f"STATUS#{status.value}", gsi2sk=f"{now}#{job_id}")
        names = {f"#a{i}": name for i, name in enumerate(values)}
        placeholders = {f":v{i}": value for i, value in enumerate(values.values())}
        expression = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values)))
        self._table.update_item(
            Key={"pk": f"JOB#{job_id}", "sk": "JOB"},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=_to_dynamo(placeholders),
        )

    def get(self, job_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"pk": f"JOB#{job_id}", "sk": "JOB"}, ConsistentRead=True).get("Item")
        return _from_dynamo(item) if item else None

    def for_product(self, product_id: str) -> list[dict[str, Any]]:
        """A product's jobs, oldest first."""
        return self._query(PRODUCT_INDEX, Key("gsi1pk").eq(f"PRODUCT#{product_id}"))

    def with_status(self, status: JobRecordStatus) -> list[dict[str, Any]]:
        return self._query(STATUS_INDEX, Key("gsi2pk").eq(f"STATUS#{status.value}"))

    def all_jobs(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self._table.scan(**kwargs)
            items.extend(_from_dynamo(i) for i in page.get("Items", []) if i.get("sk") == "JOB")
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda i: i["created_at"])
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _query(self, index: str, condition: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": condition}
        while True:
            page = self._table.query(**kwargs)
            items.extend(_from_dynamo(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
