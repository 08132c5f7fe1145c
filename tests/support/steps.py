"""The state machine's task Lambdas called as Step Functions calls them, and what they leave behind."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.support.aws import BUCKET, REGION
from tests.support.lambdas import FakeLambdaContext, load_handler


def run(function: str, state: dict[str, Any]) -> dict[str, Any]:
    handler = load_handler(function).lambda_handler
    return handler(json.loads(json.dumps(state)), FakeLambdaContext(function))


def calls(sim: Any, route: str) -> int:
    """How often the simulator served ``"POST /on_figure_operations"`` (paths as in the API docs)."""
    method, path = route.split(" ", 1)
    return sim.admin.calls()["calls"].get(f"{method} /studio/v1{path}", 0)


def finish_operations(sim: Any) -> None:
    sim.admin.advance(120)


def outbox_keys(product_id: str = "sku-1") -> list[str]:
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(
        Bucket=BUCKET, Prefix=f"outbox/{product_id}/"
    )
    return sorted(item["Key"] for item in listed.get("Contents", []))
