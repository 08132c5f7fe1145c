"""Work per product: what one job costs in the local stack, counted, and priced at list prices.

Four job types go through the whole local stack (``studio_local.LocalStudio``: the template in
moto's server, the Studio simulator, the Lambda handlers run locally), one at a time, each a
product folder of two photos and a ``product.json`` uploaded the way ``studio submit`` does:

- ``online``: on-figure, ``operation_priority: online``, 2 image types x 2 generations;
- ``offline``: the same with ``operation_priority: offline``;
- ``flat_lay``: ``kind: flat_lay``, 1 image type x 2 generations;
- ``regeneration``: the online job plus ``regeneration.rounds`` of one type x 1 generation.

Counted per job, from the moment its first photo is uploaded until the stack is idle again
(the folder's settle checks included):

- **state transitions**: the execution history's ``*StateEntered`` events (what Step Functions
  Standard bills), per state;
- **Lambda**: invocations per function and their durations (``LocalStudio.lambdas.history``),
  GB-seconds = duration x the template's ``MemorySize`` (as deployed), also with each duration
  rounded up to Lambda's 1 ms billing granularity;
- **AWS requests the Lambdas make**, by service and operation: every request reaching moto's
  server passes moto's request recorder hook (``moto.moto_api.recorder``), which this bench
  replaces with a counter for the run. The handlers run in processes of their own, so a
  botocore event handler in this process would not see them; each function's requests are
  told apart by ``AWS_SDK_UA_APP_ID=<logical id>`` (botocore puts ``app/<id>`` in the
  User-Agent), set on every function before the first job, and by the invocation windows for
  an execution environment started before that;
- **S3 GETs Aiuta makes** on the presigned URLs of the inputs (billed to the bucket owner);
- **Aiuta API calls** by endpoint and **operations created** per kind (the simulator's
  ``/_sim/calls`` and ``/_sim/stats``);
- **DynamoDB request units**, estimated from the sizes of the items read and written
  (DynamoDB's documented size rules) and the indexes each item is in (``describe_table``).

The simulator's operations take ``SIM_OPERATION_SECONDS`` and the poll waits are 1-2 s, so a run
is quick, one check per status-check invocation (``PollInLambdaSeconds`` 0) so that a check's own
work is measured. What a round takes at realistic durations, as shipped, comes from
``bench/polling.py``'s replay of the status check (production's functions, on its operation
mixes): checks, turns of the Wait/Check/Choice loop (checks across waits under the break-even
happen in one invocation, ``studio_core.domain.check_loop``), the invocations' time between
in-process checks, and job-record writes (``progress.record_due``); the counts are projected with
what a check, a loop, a second of Lambda and a record write were measured to cost.

Run: ``.venv/bin/python bench/work_per_product.py`` (four types twice, after one warm-up job:
about 2.5 minutes); results in ``bench/results/work_per_product.json``. Exit status 1 when a job
does not succeed (its counts would not be a product's).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import math
import platform
import random
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

RESULTS = Path(__file__).with_name("results") / "work_per_product.json"

# --- the run ---------------------------------------------------------------------------------

# Template parameters for a quick run; the projection puts realistic durations back.
PARAMETERS = {
    "PollFirstWaitOnlineSeconds": "1",
    "PollFirstWaitOfflineSeconds": "1",
    "PollMinWaitSeconds": "1",
    "PollMaxWaitSeconds": "2",
    "InboxQuietSeconds": "2",
    # One check per invocation here, so each check's own work is measured; the projection puts the
    # shipped in-process checking back (realistic_checks).
    "PollInLambdaSeconds": "0",
}
SIM_OPERATION_SECONDS = 2.0
JOB_TIMEOUT_SECONDS = 90.0

ON_FIGURE_TYPES = ["front/standing", "back/walking"]
JOB_TYPES: dict[str, dict[str, Any]] = {
    "online": {
        "kind": "on_figure",
        "operation_priority": "online",
        "image_types": ON_FIGURE_TYPES,
        "number_of_generations": 2,
    },
    "offline": {
        "kind": "on_figure",
        "operation_priority": "offline",
        "image_types": ON_FIGURE_TYPES,
        "number_of_generations": 2,
    },
    "flat_lay": {
        "kind": "flat_lay",
        "operation_priority": "online",
        "image_types": [{"flat_lay_type": "ghost_mannequin", "viewpoint": "front"}],
        "number_of_generations": 2,
    },
    "regeneration": {
        "kind": "on_figure",
        "operation_priority": "online",
        "image_types": ON_FIGURE_TYPES,
        "number_of_generations": 2,
        "regeneration": {"rounds": [{"image_types": ["side/standing"], "number_of_generations": 1}]},
    },
}
PHOTOS = 2
WARM_UP = "regeneration"  # touches every function a successful job uses

# --- list prices: us-east-1, on-demand, as published by AWS (checked 2025-06; not fetched here) ---

PRICES = {
    "date": "2025-06",
    "region": "us-east-1",
    "step_functions_standard_per_transition": 0.025 / 1000,
    "lambda_per_request": 0.20 / 1_000_000,
    "lambda_per_gb_second_arm64": 0.0000133334,
    "lambda_per_gb_second_x86_64": 0.0000166667,
    "s3_standard_per_put_copy_post_list": 0.005 / 1000,
    "s3_standard_per_get_and_other": 0.0004 / 1000,
    "dynamodb_on_demand_per_write_request_unit": 1.25 / 1_000_000,
    "dynamodb_on_demand_per_read_request_unit": 0.25 / 1_000_000,
    "sqs_standard_per_request": 0.40 / 1_000_000,
    "secrets_manager_per_api_call": 0.05 / 10_000,
    "eventbridge_per_custom_event": 1.00 / 1_000_000,
}
# S3 bills DELETE (and aborting an upload) nothing; PUT, COPY, POST and LIST at the higher rate.
S3_FREE = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}
S3_WRITES = {"PutObject", "CopyObject", "CompleteMultipartUpload"}
S3_PUT_CLASS = {
    "PutObject",
    "CopyObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "ListObjectsV2",
    "ListObjects",
}

# --- the realistic durations the projection uses (bench/polling.py's built-in mixes) ----------


def load_polling_bench() -> Any:
    """``bench/polling.py``, whose replay of the status check (production's own functions) gives
    the checks, loops, time in-process and record writes of a round at realistic durations."""
    import importlib.util

    name = "bench_polling_for_work_per_product"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("polling.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def realistic_checks(
    priority: str,
    warm: int = 2000,
    measured: int = 2000,
    in_lambda_seconds: float | None = None,
) -> dict[str, Any]:
    """A round at realistic durations, as shipped: ``bench/polling.py``'s mix of the priority
    replayed through the status check's own functions, ``warm`` operations learned first, then
    the means over ``measured`` more: checks, turns of the Wait/Check/Choice loop (invocations),
    seconds the invocations spent between in-process checks, job-record writes; and the p95
    relative lag. ``in_lambda_seconds``: ``PollInLambdaSeconds`` (default the template's)."""
    polling = load_polling_bench()
    limit = polling.IN_LAMBDA_SECONDS if in_lambda_seconds is None else in_lambda_seconds
    mix = polling.MIXES[priority](random.Random(f"{polling.SEED}-{priority}"), warm + measured)
    replays, _ = polling.replay_learned(mix, in_lambda_seconds=limit)
    counted = list(zip(mix[warm:], replays[warm:], strict=True))
    relative = [(r.noticed - op.seconds) / op.seconds for op, r in counted if r.noticed is not None]
    return {
        "mix": f"bench/polling.py {priority}, operations {warm + 1}-{warm + measured}",
        "in_lambda_seconds": limit,
        "checks_mean": round(statistics.fmean(len(r.checks) for _, r in counted), 2),
        "loops_mean": round(statistics.fmean(r.loops for _, r in counted), 2),
        "slept_seconds_mean": round(statistics.fmean(r.slept for _, r in counted), 1),
        "record_writes_mean": round(statistics.fmean(r.writes for _, r in counted), 2),
        "relative_lag_p95": round(polling.percentile(relative, 0.95), 4),
    }


def break_even_gap_seconds(memory_mb: int = 512) -> float:
    """The wait below which sleeping in the status-check Lambda costs less than a Wait, Check and
    Choice round trip (``domain/check_loop.py``, where the status check applies it)."""
    from studio_core.domain.check_loop import break_even_gap_seconds as production

    return production(memory_mb)


# --- counting what reaches moto ------------------------------------------------------------------


@dataclass
class AwsRequest:
    """One request that reached moto's server, as this bench classifies it."""

    at: float
    caller: str  # a function's logical id, LAMBDA (not yet attributed), AIUTA, or STACK
    service: str
    operation: str
    table: str | None = None
    item: dict[str, Any] | None = None  # DynamoDB: the Key sent (the whole Item of a PutItem)
    consistent: bool = False
    index: str | None = None
    attributes_set: frozenset[str] = frozenset()  # DynamoDB UpdateItem: the attribute names it sets
    invocation: int | None = None  # index into the run's invocation list, once attributed
    s3_key: str | None = None  # S3: the object key (path-style requests)


LAMBDA = "LAMBDA"
AIUTA = "AIUTA"
STACK = "STACK"


class RequestLog:
    """Counts every request moto's server receives, through the hook of moto's request recorder.

    moto calls ``moto.moto_api.recorder._record_request(request)`` for each request it serves
    (``moto.core.utils.convert_to_flask_response``); this replaces that method on the recorder
    object while installed. Nothing is written to disk and no request is changed; a DynamoDB
    request's JSON body is read and put back, as moto's own recorder does.
    """

    def __init__(self) -> None:
        self.requests: list[AwsRequest] = []
        self._lock = threading.Lock()
        self._recorder: Any = None

    def install(self) -> None:
        from moto.moto_api import recorder

        self._recorder = recorder
        recorder._record_request = self._record  # an instance attribute shadows the method

    def uninstall(self) -> None:
        if self._recorder is not None and "_record_request" in vars(self._recorder):
            del self._recorder._record_request
        self._recorder = None

    def __len__(self) -> int:
        with self._lock:
            return len(self.requests)

    def since(self, start: int) -> list[AwsRequest]:
        with self._lock:
            return list(self.requests[start:])

    def _record(self, request: Any, body: bytes | None = None) -> None:
        try:
            entry = classify(request)
        except Exception:  # never let counting break a request
            entry = AwsRequest(time.time(), STACK, "unknown", "unclassified")
        with self._lock:
            self.requests.append(entry)


def _read_body(request: Any) -> bytes:
    """The request's body, put back for moto (what its own recorder does)."""
    try:
        size = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return b""
    if not size:
        return b""
    body = request.environ["wsgi.input"].read(size)
    request.environ["wsgi.input"] = io.BytesIO(body)
    return body if isinstance(body, bytes) else str(body).encode()


def classify(request: Any) -> AwsRequest:
    now = time.time()
    headers = request.headers
    parts = urlsplit(request.raw_url if hasattr(request, "raw_url") else request.url)
    query = parse_qs(parts.query, keep_blank_values=True)
    authorization = headers.get("Authorization", "")
    agent = headers.get("User-Agent", "")
    presigned = not authorization and ("X-Amz-Signature" in query or "Signature" in query)
    if presigned:
        caller = AIUTA  # a presigned URL (SigV4 or SigV2 query auth): only Aiuta is given those
    elif " app/" in f" {agent}":
        caller = next(p[4:] for p in agent.split() if p.startswith("app/"))
    elif "exec-env/AWS_Lambda" in agent:
        caller = LAMBDA
    else:
        caller = STACK
    service = "s3" if presigned else _service(authorization, query)
    target = headers.get("X-Amz-Target", "")
    if target:
        operation = target.rsplit(".", 1)[-1]
        if service == "unknown":
            service = target.split("_", 1)[0].split(".", 1)[0].lower()
    elif service == "s3":
        operation = _s3_operation(request.method, parts.path, query, headers)
    elif service == "lambda" and parts.path.endswith("/invocations"):
        operation = "Invoke"
    else:
        operation = f"{request.method} {unquote(parts.path)}"
    entry = AwsRequest(now, caller, service, operation)
    if service == "s3" and "/" in parts.path.strip("/"):
        entry.s3_key = unquote(parts.path.strip("/").split("/", 1)[1])
    if service == "dynamodb" and caller != STACK:
        _dynamodb_details(entry, _read_body(request))
    return entry


def _service(authorization: str, query: dict[str, list[str]]) -> str:
    credential = ""
    if "Credential=" in authorization:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    elif "X-Amz-Credential" in query:
        credential = query["X-Amz-Credential"][0]
    fields = credential.split("/")
    return fields[3] if len(fields) >= 5 else "unknown"


def _s3_operation(method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str]) -> str:
    has_key = "/" in path.strip("/")
    if not has_key:
        if method == "GET":
            if "list-type" in query:
                return "ListObjectsV2"
            sub = [
                q for q in query if q not in ("prefix", "delimiter", "max-keys", "marker", "encoding-type")
            ]
            return f"GetBucket{sub[0].title()}" if sub else "ListObjects"
        if method == "POST" and "delete" in query:
            return "DeleteObjects"
        return {"PUT": "PutBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(method, method)
    if method == "GET":
        return "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "PUT":
        if "partNumber" in query:
            return "UploadPart"
        return "CopyObject" if headers.get("x-amz-copy-source") else "PutObject"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    return method


def _dynamodb_details(entry: AwsRequest, body: bytes) -> None:
    if not body:
        return
    document = json.loads(body)
    entry.table = document.get("TableName")
    entry.index = document.get("IndexName")
    entry.consistent = bool(document.get("ConsistentRead"))
    entry.item = document.get("Item") or document.get("Key")
    if entry.operation == "UpdateItem":
        names = (document.get("ExpressionAttributeNames") or {}).values()
        words = document.get("UpdateExpression", "").replace(",", " ").replace("=", " ").split()
        entry.attributes_set = frozenset(names) | frozenset(words)


# --- DynamoDB request units ----------------------------------------------------------------------


def attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value (DynamoDB's documented rules; numbers approximated)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(base64.b64decode(inner)) if isinstance(inner, str) else len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in inner.items())
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(attribute_size({"N": n}) for n in inner)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in inner)
    return len(json.dumps(inner))


def item_size(item: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class TableShape:
    """What the unit arithmetic needs of a table: its key and its global secondary indexes'."""

    key: tuple[str, ...]
    indexes: dict[str, tuple[str, ...]]  # index name -> its key attributes

    def key_of(self, item: Mapping[str, Any]) -> str:
        return json.dumps({k: item.get(k) for k in self.key}, sort_keys=True)

    def indexes_of(self, item: Mapping[str, Any]) -> list[tuple[str, ...]]:
        """The indexes the item is in (it has their partition key)."""
        return [attrs for attrs in self.indexes.values() if attrs[0] in item]


def table_shape(client: Any, table: str) -> TableShape:
    description = client.describe_table(TableName=table)["Table"]
    return TableShape(
        key=tuple(k["AttributeName"] for k in description["KeySchema"]),
        indexes={
            index["IndexName"]: tuple(k["AttributeName"] for k in index["KeySchema"])
            for index in description.get("GlobalSecondaryIndexes", [])
        },
    )


def request_units(
    requests: Sequence[AwsRequest],
    shapes: Mapping[str, TableShape],
    items: Mapping[tuple[str, str], Mapping[str, Any]],
) -> dict[str, float]:
    """Read and write request units of the DynamoDB requests, from the items' sizes.

    ``items``: (table, key) -> the item as read after the job, at its largest: an upper bound for
    the writes before the last. A write to an item also writes each index the item is in, one
    whose key it changes twice (a delete and a put); a failed conditional write consumes units
    too; a GSI query is eventually consistent (half a unit per 4 KB). The job's queries read the
    product's one job.
    """
    rru = wru = 0.0
    for r in requests:
        if r.service != "dynamodb" or r.table not in shapes:
            continue
        shape = shapes[r.table]
        key = shape.key_of(r.item) if r.item else ""
        after = items.get((r.table, key)) or {}
        if r.operation == "PutItem" and r.item:
            size, indexes = item_size(r.item), shape.indexes_of(r.item)
            wru += write_units(size) * (1 + len(indexes))
        elif r.operation in ("UpdateItem", "DeleteItem"):
            size = item_size(after) if after else 1
            units = write_units(size)
            for attrs in shape.indexes_of(after):
                units += write_units(size) * (2 if set(attrs) & r.attributes_set else 1)
            wru += units
        elif r.operation == "GetItem":
            rru += read_units(item_size(after) if after else 1, r.consistent)
        elif r.operation in ("Query", "Scan"):
            read = [i for (t, _), i in items.items() if t == r.table and "gsi1pk" in i]
            rru += read_units(sum(item_size(i) for i in read) or 1, consistent=r.consistent and not r.index)
    return {"read_request_units": rru, "write_request_units": wru}


# --- one job ---------------------------------------------------------------------------------------


@dataclass
class Invocation:
    function: str
    started_at: float
    seconds: float
    memory_mb: int
    round: int | None
    error: str | None
    requests: Counter[str] = field(default_factory=Counter)


def attribute(requests: Sequence[AwsRequest], invocations: Sequence[Invocation], slack: float = 0.05) -> None:
    """Names each Lambda request's invocation: the one of its function (if known) running then."""
    for r in requests:
        if r.caller in (AIUTA, STACK):
            continue
        candidates = [
            i
            for i, inv in enumerate(invocations)
            if inv.started_at - slack <= r.at <= inv.started_at + inv.seconds + slack
            and (r.caller == LAMBDA or inv.function == r.caller)
        ]
        if r.caller == LAMBDA and len({invocations[i].function for i in candidates}) == 1:
            r.caller = invocations[candidates[0]].function
        if candidates and r.caller != LAMBDA:
            r.invocation = max(candidates, key=lambda i: invocations[i].started_at)
            invocations[r.invocation].requests[f"{r.service}.{r.operation}"] += 1


def _upload(studio: Any, product_id: str, manifest: dict[str, Any]) -> int:
    from studio_cli.samples import SampleProduct

    product = SampleProduct(product_id, "tshirt", (180, 60, 70), photos=PHOTOS, manifest=manifest)
    files = product.files()
    s3 = studio.client("s3")
    for name in sorted(files, key=lambda n: n == "product.json"):  # photos first, as `studio submit`
        s3.put_object(Bucket=studio.bucket, Key=f"inbox/{product_id}/{name}", Body=files[name])
    return len(files)


def _job_item(studio: Any, product_id: str) -> dict[str, Any] | None:
    items = studio.client("dynamodb").query(
        TableName=studio.jobs_table,
        IndexName="ByProduct",
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": f"PRODUCT#{product_id}"}},
    )["Items"]
    return items[0] if items else None


def _wait_for_job(studio: Any, product_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        item = _job_item(studio, product_id)
        if item and item["status"]["S"] in ("SUCCEEDED", "PARTIAL", "FAILED", "TIMED_OUT"):
            return item
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{product_id}: no finished job after {timeout:g} s ({item and item['status']})"
            )
        time.sleep(0.25)


def _history(studio: Any, execution_name: str) -> list[dict[str, Any]]:
    sfn = studio.client("stepfunctions")
    arn = studio.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{execution_name}"
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _sim_counts(studio: Any) -> tuple[dict[str, int], dict[str, int]]:
    admin = studio.simulator_admin
    return dict(admin.calls()["calls"]), dict(admin.stats()["creates"])


def _diff(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] - before.get(k, 0)}


def measure_job(studio: Any, log: RequestLog, job_type: str, product_id: str) -> dict[str, Any]:
    """Uploads one product folder, waits until the stack is idle, and returns what it cost."""
    memory = {f.logical_id: f.memory_mb for f in studio.lambdas.functions}
    studio.wait_until_idle(timeout=60)
    request_mark, history_mark = len(log), len(studio.lambdas.history)
    calls_before, creates_before = _sim_counts(studio)
    started = time.monotonic()
    uploads = _upload(studio, product_id, JOB_TYPES[job_type])
    item = _wait_for_job(studio, product_id, JOB_TIMEOUT_SECONDS)
    studio.wait_until_idle(timeout=60)  # the folder's settle checks (delayed messages) too
    wall = time.monotonic() - started
    requests = log.since(request_mark)
    records = list(studio.lambdas.history)[history_mark:]
    calls_after, creates_after = _sim_counts(studio)

    invocations = [
        Invocation(
            r.logical_id,
            float(getattr(r, "started_at", 0.0) or 0.0),
            r.duration_seconds,
            memory.get(r.logical_id, 512),
            r.event.get("round") if isinstance(r.event, dict) and "job_id" in r.event else None,
            r.error_type,
        )
        for r in records
    ]
    attribute(requests, invocations)

    job_id = item["job_id"]["S"]
    events = _history(studio, item["execution_name"]["S"])
    entered = Counter(
        e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")
    )
    # Checks per round, in the order the rounds ran; the waiting checks are all but each round's last.
    checks: dict[int, list[Invocation]] = defaultdict(list)
    for inv in invocations:
        if inv.function == "CheckStatusFunction":
            checks[inv.round or 0].append(inv)

    lambda_requests = [r for r in requests if r.caller not in (AIUTA, STACK)]
    shapes, items = _items_after(studio, lambda_requests)
    units = request_units(lambda_requests, shapes, items)
    units_by_invocation = [
        request_units([r for r in lambda_requests if r.invocation == i], shapes, items)
        for i in range(len(invocations))
    ]
    # A status check's write of the job record (``record_check``: it sets last_checked_at).
    record_writes = [
        [r for r in lambda_requests if r.invocation == i and "last_checked_at" in r.attributes_set]
        for i in range(len(invocations))
    ]
    job_key = (
        studio.jobs_table,
        shapes[studio.jobs_table].key_of({"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}),
    )
    record = studio.client("dynamodb").get_item(
        TableName=studio.jobs_table, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}
    )["Item"]
    listed = studio.client("s3").list_objects_v2(Bucket=studio.bucket, Prefix=f"outbox/{product_id}/")
    outbox = sorted(o["Key"] for o in listed.get("Contents", []))
    written = sorted(
        {
            r.s3_key
            for r in lambda_requests
            if r.operation in S3_WRITES and r.s3_key and r.s3_key.startswith("outbox/")
        }
    )
    return {
        "job_type": job_type,
        "job_id": job_id,
        "status": record["status"]["S"],
        "priority": JOB_TYPES[job_type]["operation_priority"],
        "wall_seconds": round(wall, 2),
        "uploads": uploads,
        # The job item keeps the count; its images are items of their own (one per round).
        "images_copied": int(record.get("images_copied", {}).get("N", "0")),
        "outbox_objects": outbox,
        "outbox_keys_written_by_lambdas": written,
        "state_transitions": sum(entered.values()),
        "states_entered": dict(entered),
        "history_events": len(events),
        "checks_per_round": {str(r): len(c) for r, c in sorted(checks.items())},
        "invocations": [
            {
                **asdict(i),
                "requests": dict(i.requests),
                "dynamodb_units": u,
                "record_writes": len(w),
                "record_wru": request_units(w, shapes, items)["write_request_units"],
            }
            for i, u, w in zip(invocations, units_by_invocation, record_writes, strict=True)
        ],
        "aws_requests": _group(requests),
        "dynamodb_requests_by_table": _by_table(studio, lambda_requests),
        "dynamodb_units": units,
        "job_item_bytes": item_size(items.get(job_key, {})),
        "aiuta_calls": _diff(calls_after, calls_before),
        "aiuta_creates": {k: v for k, v in _diff(creates_after, creates_before).items() if k != "total"},
    }


_SHAPES: dict[str, TableShape] = {}


def _items_after(
    studio: Any, requests: Sequence[AwsRequest]
) -> tuple[dict[str, TableShape], dict[tuple[str, str], dict[str, Any]]]:
    """The tables' shapes and every item the job's requests touched, read after the job."""
    client = studio.client("dynamodb")
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for table in {r.table for r in requests if r.table} | {studio.jobs_table}:
        if table not in _SHAPES:
            _SHAPES[table] = table_shape(client, table)
    for r in requests:
        if r.service != "dynamodb" or not r.table or not r.item:
            continue
        shape = _SHAPES[r.table]
        key = shape.key_of(r.item)
        if (r.table, key) not in items:
            found = client.get_item(TableName=r.table, Key={k: r.item[k] for k in shape.key if k in r.item})
            items[(r.table, key)] = found.get("Item", {})
    return dict(_SHAPES), items


def _by_table(studio: Any, requests: Sequence[AwsRequest]) -> dict[str, dict[str, int]]:
    """The Lambdas' DynamoDB requests by the template's table and operation, per function."""
    names = {studio.stack.physical_id(lid): lid for lid, _ in studio.stack.of_type("AWS::DynamoDB::Table")}
    grouped: dict[str, Counter[str]] = defaultdict(Counter)
    for r in requests:
        if r.service == "dynamodb":
            grouped[r.caller][f"{names.get(r.table or '', r.table)}.{r.operation}"] += 1
    return {caller: dict(sorted(c.items())) for caller, c in sorted(grouped.items())}


def _group(requests: Sequence[AwsRequest]) -> dict[str, dict[str, int]]:
    """Counts by caller, then ``service.Operation``."""
    grouped: dict[str, Counter[str]] = defaultdict(Counter)
    for r in requests:
        grouped[r.caller][f"{r.service}.{r.operation}"] += 1
    return {caller: dict(sorted(c.items())) for caller, c in sorted(grouped.items())}


# --- totals, projection, cost ------------------------------------------------------------------------


def lambda_totals(invocations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    for inv in invocations:
        row = per.setdefault(
            inv["function"], {"invocations": 0, "seconds": 0.0, "gb_seconds": 0.0, "billed_gb_seconds": 0.0}
        )
        gb = inv["memory_mb"] / 1024
        row["invocations"] += 1
        row["seconds"] += inv["seconds"]
        row["gb_seconds"] += inv["seconds"] * gb
        row["billed_gb_seconds"] += math.ceil(inv["seconds"] * 1000) / 1000 * gb
    return {
        "by_function": {k: {n: round(v, 4) for n, v in row.items()} for k, row in sorted(per.items())},
        "invocations": sum(r["invocations"] for r in per.values()),
        "gb_seconds": sum(r["gb_seconds"] for r in per.values()),
        "billed_gb_seconds": sum(r["billed_gb_seconds"] for r in per.values()),
    }


def flatten(job: Mapping[str, Any]) -> dict[str, Any]:
    """The job's countable work in one flat dict (what the cost and the projection read)."""
    lam = lambda_totals(job["invocations"])
    by_op: Counter[str] = Counter()
    for caller, ops in job["aws_requests"].items():
        if caller not in (AIUTA, STACK):
            by_op.update(ops)
    aiuta_s3 = Counter(job["aws_requests"].get(AIUTA, {}))
    stack = job["aws_requests"].get(STACK, {})
    s3 = {k: v for k, v in by_op.items() if k.startswith("s3.")}
    dynamodb = {k: v for k, v in by_op.items() if k.startswith("dynamodb.")}
    deliveries = stack.get("sqs.DeleteMessageBatch", 0)
    sqs_sends = by_op.get("sqs.SendMessage", 0)
    return {
        "state_transitions": job["state_transitions"],
        "lambda_invocations": lam["invocations"],
        "lambda_gb_seconds": lam["gb_seconds"],
        "lambda_billed_gb_seconds": lam["billed_gb_seconds"],
        "lambda_by_function": lam["by_function"],
        "aiuta_calls": sum(job["aiuta_calls"].values()),
        "aiuta_creates": sum(job["aiuta_creates"].values()),
        "s3_requests": s3,
        "s3_put_class": sum(v for k, v in s3.items() if k[3:] in S3_PUT_CLASS),
        "s3_get_class": sum(v for k, v in s3.items() if k[3:] not in S3_PUT_CLASS | S3_FREE),
        "s3_gets_by_aiuta": sum(v for k, v in aiuta_s3.items() if k.startswith("s3.")),
        "dynamodb_requests": dynamodb,
        "dynamodb_reads": sum(
            v for k, v in dynamodb.items() if k.split(".")[1] in ("GetItem", "Query", "Scan")
        ),
        "dynamodb_writes": sum(
            v for k, v in dynamodb.items() if k.split(".")[1] in ("PutItem", "UpdateItem", "DeleteItem")
        ),
        "dynamodb_rru": job["dynamodb_units"]["read_request_units"],
        "dynamodb_wru": job["dynamodb_units"]["write_request_units"],
        # Each message: one send (S3's event or ingest's settle check), one receive and one
        # delete by the event source mapping per delivered batch (its empty polls are a fixed cost).
        "sqs_requests": job["uploads"] + sqs_sends + 2 * deliveries,
        "other_requests": {
            k: v for k, v in by_op.items() if not k.startswith(("s3.", "dynamodb.", "sqs.SendMessage"))
        },
        "secrets_manager_calls": by_op.get("secretsmanager.GetSecretValue", 0),
        "eventbridge_events": by_op.get("events.PutEvents", 0),
        "store_uploads": job["uploads"],
    }


def waiting_check(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """What one more status check does, its job-record write apart (the checks write the record
    only now and then, ``progress.record_due``): the most common request set of the job's waiting
    checks (every check of a round but its last, one check per invocation here) without that
    write, their mean duration and units, and what one record write costs."""
    by_round: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for inv in job["invocations"]:
        if inv["function"] == "CheckStatusFunction":
            by_round[inv["round"] or 0].append(inv)
    waiting = [inv for checks in by_round.values() for inv in checks[:-1]]
    if not waiting:
        return None
    writers = [inv for checks in by_round.values() for inv in checks if inv.get("record_writes")]

    def without_record(inv: Mapping[str, Any]) -> dict[str, int]:
        requests = dict(inv["requests"])
        requests["dynamodb.UpdateItem"] = requests.get("dynamodb.UpdateItem", 0) - inv.get("record_writes", 0)
        return {k: v for k, v in sorted(requests.items()) if v}

    signatures = Counter(json.dumps(without_record(inv)) for inv in waiting)
    return {
        "requests": json.loads(signatures.most_common(1)[0][0]),
        "seconds": statistics.fmean(inv["seconds"] for inv in waiting),
        "memory_mb": waiting[0]["memory_mb"],
        "aiuta_gets": _gets_per_check(job),
        "rru": statistics.fmean(inv["dynamodb_units"]["read_request_units"] for inv in waiting),
        "wru": statistics.fmean(
            inv["dynamodb_units"]["write_request_units"] - inv.get("record_wru", 0.0) for inv in waiting
        ),
        "record_wru": (
            sum(inv["record_wru"] for inv in writers) / sum(inv["record_writes"] for inv in writers)
            if writers
            else 0.0
        ),
    }


def _gets_per_check(job: Mapping[str, Any]) -> float:
    """Aiuta status reads per check: each check, and each round's copy, reads every operation of
    the round once."""
    gets = sum(v for k, v in job["aiuta_calls"].items() if k.startswith("GET ") and "operations/{" in k)
    reads = sum(job["checks_per_round"].values()) + sum(
        1 for inv in job["invocations"] if inv["function"] == "FinalizeFunction"
    )
    return gets / reads if reads else 0.0


def project(job: Mapping[str, Any], flat: Mapping[str, Any], realistic: Mapping[str, Any]) -> dict[str, Any]:
    """The job's work with each round checked as the shipped code checks a realistic one
    (``realistic_checks``) instead of as the short local operations needed: each check more is
    what a waiting check was measured to do (an Aiuta GET per operation, its request turn, its
    work's Lambda time), each turn of the loop more three transitions and an invocation, each
    second between in-process checks Lambda time, each record write more its units. The local
    run checks once per invocation, so its loops are its checks."""
    marginal = waiting_check(job)
    projected = dict(flat)
    rounds = len(job["checks_per_round"])
    checks = [inv for inv in job["invocations"] if inv["function"] == "CheckStatusFunction"]
    extra = realistic["checks_mean"] * rounds - sum(job["checks_per_round"].values())
    extra_loops = realistic["loops_mean"] * rounds - len(checks)
    extra_writes = realistic["record_writes_mean"] * rounds - sum(
        inv.get("record_writes", 0) for inv in checks
    )
    in_process = realistic["slept_seconds_mean"] * rounds
    if marginal is None:
        projected.update(extra_checks=0.0, extra_loops=0.0, extra_record_writes=0.0, in_process_seconds=0.0)
        return projected
    gb = marginal["memory_mb"] / 1024
    projected["extra_checks"] = round(extra, 2)
    projected["extra_loops"] = round(extra_loops, 2)
    projected["extra_record_writes"] = round(extra_writes, 2)
    projected["in_process_seconds"] = round(in_process, 1)
    projected["state_transitions"] = flat["state_transitions"] + 3 * extra_loops
    projected["lambda_invocations"] = flat["lambda_invocations"] + extra_loops
    seconds = extra * marginal["seconds"] + in_process
    projected["lambda_gb_seconds"] = flat["lambda_gb_seconds"] + seconds * gb
    projected["lambda_billed_gb_seconds"] = (
        flat["lambda_billed_gb_seconds"]
        + (extra * math.ceil(marginal["seconds"] * 1000) / 1000 + in_process) * gb
    )
    projected["aiuta_calls"] = flat["aiuta_calls"] + extra * marginal["aiuta_gets"]
    writes = sum(
        v for k, v in marginal["requests"].items() if k in ("dynamodb.UpdateItem", "dynamodb.PutItem")
    )
    reads = sum(v for k, v in marginal["requests"].items() if k in ("dynamodb.GetItem", "dynamodb.Query"))
    projected["dynamodb_writes"] = flat["dynamodb_writes"] + extra * writes + extra_writes
    projected["dynamodb_wru"] = (
        flat["dynamodb_wru"] + extra * marginal["wru"] + extra_writes * marginal["record_wru"]
    )
    projected["dynamodb_reads"] = flat["dynamodb_reads"] + extra * reads
    projected["dynamodb_rru"] = flat["dynamodb_rru"] + extra * marginal["rru"]
    s3_puts = sum(v for k, v in marginal["requests"].items() if k[3:] in S3_PUT_CLASS and k.startswith("s3."))
    projected["s3_put_class"] = flat["s3_put_class"] + extra * s3_puts
    return projected


def cost(work: Mapping[str, Any]) -> dict[str, float]:
    """US dollars for one job at ``PRICES`` (arm64 Lambda, as the template deploys)."""
    items = {
        "step_functions": work["state_transitions"] * PRICES["step_functions_standard_per_transition"],
        "lambda_requests": work["lambda_invocations"] * PRICES["lambda_per_request"],
        "lambda_compute": work["lambda_billed_gb_seconds"] * PRICES["lambda_per_gb_second_arm64"],
        "s3": work["s3_put_class"] * PRICES["s3_standard_per_put_copy_post_list"]
        + (work["s3_get_class"] + work["s3_gets_by_aiuta"]) * PRICES["s3_standard_per_get_and_other"],
        "dynamodb": work["dynamodb_wru"] * PRICES["dynamodb_on_demand_per_write_request_unit"]
        + work["dynamodb_rru"] * PRICES["dynamodb_on_demand_per_read_request_unit"],
        "sqs": work["sqs_requests"] * PRICES["sqs_standard_per_request"],
        "secrets_manager": work["secrets_manager_calls"] * PRICES["secrets_manager_per_api_call"],
        "eventbridge": work["eventbridge_events"] * PRICES["eventbridge_per_custom_event"],
    }
    items["total"] = sum(items.values())
    items["lambda_compute_x86_64"] = work["lambda_billed_gb_seconds"] * PRICES["lambda_per_gb_second_x86_64"]
    return items


def summarise(
    jobs: Sequence[Mapping[str, Any]], projections: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Per job type: the measured work (mean over its runs), the projection, and the cost."""
    summary: dict[str, Any] = {}
    for job_type in JOB_TYPES:
        runs = [j for j in jobs if j["job_type"] == job_type]
        if not runs:
            continue
        flats = [flatten(j) for j in runs]
        flat = _mean_work(flats)
        realistic = projections[runs[0]["priority"]]
        projected = _mean_work([project(j, f, realistic) for j, f in zip(runs, flats, strict=True)])
        summary[job_type] = {
            "runs": len(runs),
            "statuses": sorted({j["status"] for j in runs}),
            "checks_per_round": [j["checks_per_round"] for j in runs],
            "measured": flat,
            "measured_usd": cost(flat),
            "projected_checks_per_round": realistic["checks_mean"],
            "projected_loops_per_round": realistic["loops_mean"],
            "projected": projected,
            "projected_usd": cost(projected),
            "usd_per_1000_products": round(1000 * cost(projected)["total"], 4),
        }
    return summary


def _mean_work(works: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    mean: dict[str, Any] = {}
    for key, value in works[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            mean[key] = statistics.fmean(w[key] for w in works)
        else:
            mean[key] = value
    return mean


# --- running it ------------------------------------------------------------------------------------


@contextmanager
def local_stack(template: Path | None = None) -> Iterator[tuple[Any, RequestLog]]:
    """The local stack with the quick parameters, every request counted, each function labelled."""
    from studio_local import LocalStudio
    from studio_sim.settings import SimSettings

    log = RequestLog()
    log.install()
    studio = LocalStudio(
        template,
        parameter_overrides=PARAMETERS,
        sim_settings=SimSettings(operation_seconds=SIM_OPERATION_SECONDS),
        function_environment={"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"},
    )
    try:
        with studio:
            for function in studio.lambdas.functions:
                # Environments started from now on put app/<logical id> in their requests' User-Agent.
                function.environment["AWS_SDK_UA_APP_ID"] = function.logical_id
            yield studio, log
    finally:
        log.uninstall()


def run(
    job_types: Sequence[str], repeats: int = 1, warm_up: bool = True, template: Path | None = None
) -> dict[str, Any]:
    started = time.monotonic()
    jobs = []
    with local_stack(template) as (studio, log):
        if warm_up:
            measure_job(studio, log, WARM_UP, "warm-up")
        for repeat in range(repeats):
            for job_type in job_types:
                jobs.append(measure_job(studio, log, job_type, f"{job_type.replace('_', '-')}-{repeat + 1}"))
        cold_starts = {
            name: row.get("cold_starts")
            for name, row in getattr(studio.lambdas, "concurrency", dict)().items()
        }
    projections = {p: realistic_checks(p) for p in ("online", "offline")}
    # The same rounds with every check a turn of the loop (PollInLambdaSeconds 0), for comparison.
    one_check_per_loop = {p: realistic_checks(p, in_lambda_seconds=0) for p in ("online", "offline")}
    return {
        "command": "bench/work_per_product.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()} {platform.system()}, Python {platform.python_version()}",
        "code": _code_version(),
        "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "parameters": PARAMETERS,
        "sim_operation_seconds": SIM_OPERATION_SECONDS,
        "warm_up": WARM_UP if warm_up else None,
        "cold_starts_in_run": cold_starts,
        "prices": PRICES,
        "realistic_checks": projections,
        "realistic_checks_one_per_loop": one_check_per_loop,
        "break_even_gap_seconds": round(break_even_gap_seconds(), 2),
        "jobs": jobs,
        "summary": summarise(jobs, projections),
    }


def _code_version() -> str:
    """The commit measured, and whether the working tree had changes on top of it."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        commit = subprocess.run(  # noqa: S603 - git, with fixed arguments
            [git, "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603 - git, with fixed arguments
            [git, "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{' + uncommitted changes' if dirty else ''}"


def table(summary: Mapping[str, Any], key: str = "projected") -> str:
    head = (
        "| job | transitions | Lambda invocations | GB-s (billed) | Aiuta calls (creates) | "
        "S3 PUT/LIST, GET (+ Aiuta's GETs) | DynamoDB reads, writes (RRU, WRU) | SQS | $ per 1,000 |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    rows = []
    for job_type, s in summary.items():
        w = s[key]
        usd = s["usd_per_1000_products"] if key == "projected" else 1000 * s["measured_usd"]["total"]
        rows.append(
            f"| {job_type} | {w['state_transitions']:.0f} | {w['lambda_invocations']:.0f} | "
            f"{w['lambda_billed_gb_seconds']:.2f} | {w['aiuta_calls']:.0f} ({w['aiuta_creates']:.0f}) | "
            f"{w['s3_put_class']:.0f}, {w['s3_get_class']:.0f} (+{w['s3_gets_by_aiuta']:.0f}) | "
            f"{w['dynamodb_reads']:.0f}, {w['dynamodb_writes']:.0f} ({w['dynamodb_rru']:.1f}, "
            f"{w['dynamodb_wru']:.0f}) | {w['sqs_requests']:.0f} | {usd:.3f} |"
        )
    return head + "\n".join(rows)


def cost_table(summary: Mapping[str, Any]) -> str:
    names = [
        "step_functions",
        "lambda_requests",
        "lambda_compute",
        "s3",
        "dynamodb",
        "sqs",
        "secrets_manager",
        "eventbridge",
    ]
    head = "| job | " + " | ".join(n.replace("_", " ") for n in names) + " | total |\n"
    head += "| --- " * (len(names) + 2) + "|\n"
    rows = []
    for job_type, s in summary.items():
        usd = s["projected_usd"]
        rows.append(
            f"| {job_type} | "
            + " | ".join(f"{1000 * usd[n]:.4f}" for n in names)
            + f" | {s['usd_per_1000_products']:.3f} |"
        )
    return head + "\n".join(rows)


def function_table(job: Mapping[str, Any]) -> str:
    """One job's Lambda invocations and the AWS requests each function made (then Aiuta's)."""
    rows = ["| function | invocations | ms each here (mean) | MB | its AWS requests |", "| --- " * 5 + "|"]
    by_function: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for inv in job["invocations"]:
        by_function[inv["function"]].append(inv)
    for function, invocations in by_function.items():
        requests = job["aws_requests"].get(function, {})
        listed = ", ".join(f"{op} {n}" for op, n in requests.items()) or "none"
        mean_ms = 1000 * statistics.fmean(i["seconds"] for i in invocations)
        rows.append(
            f"| {function} | {len(invocations)} | {mean_ms:.0f} | {invocations[0]['memory_mb']} | {listed} |"
        )
    aiuta = ", ".join(f"{op} {n}" for op, n in job["aws_requests"].get(AIUTA, {}).items()) or "none"
    rows.append(f"| Aiuta (presigned URLs) | | | | {aiuta} |")
    return "\n".join(rows)


def last_line(result: Mapping[str, Any]) -> str:
    parts = []
    for job_type, s in result["summary"].items():
        parts.append(f"{job_type}_transitions={s['measured']['state_transitions']:.0f}")
        parts.append(f"{job_type}_usd_per_1000={s['usd_per_1000_products']:.3f}")
    creates = [c for j in result["jobs"] for c in j["aiuta_creates"].values()]
    parts.append(f"max_creates_per_kind_and_round={max(creates) if creates else 0}")
    return "work_per_product: " + " ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=2, help="jobs of each type (default 2)")
    parser.add_argument("--types", nargs="*", default=list(JOB_TYPES), choices=list(JOB_TYPES))
    parser.add_argument("--no-warm-up", action="store_true", help="measure cold environments too")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--template", type=Path, default=None, help="another template.yaml (default: the repo's)"
    )
    args = parser.parse_args(argv)
    # moto's interpreter logs every Choice rule whose path is absent ($.resume.attempt on a new job)
    # as an error; that is how IsPresent is false, not a failure (a failed job fails the bench).
    logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)
    result = run(args.types, repeats=args.repeats, warm_up=not args.no_warm_up, template=args.template)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print("Measured (simulator operations of 2 s, poll waits of 1-2 s):")
    print(table(result["summary"], "measured"))
    print()
    print(
        "Projected to realistic operation durations (each round checked as often as the learned "
        "schedule checks the mix's operations):"
    )
    print(table(result["summary"], "projected"))
    print()
    for job in result["jobs"]:
        if job["job_type"] == "regeneration":
            checks = " + ".join(str(n) for n in job["checks_per_round"].values())
            print(f"Where one {job['job_type']} job's work goes ({checks} checks):")
            print(function_table(job))
            print()
            break
    print("$ per 1,000 products, projected:")
    print(cost_table(result["summary"]))
    print()
    for priority, checks in result["realistic_checks"].items():
        alone = result["realistic_checks_one_per_loop"][priority]
        print(
            f"{priority}: {checks['checks_mean']} checks per operation in {checks['loops_mean']} loops "
            f"({checks['slept_seconds_mean']} s between in-process checks, waits under "
            f"{result['break_even_gap_seconds']} s), {checks['record_writes_mean']} record writes, "
            f"rel. lag p95 {checks['relative_lag_p95']}; one check per loop: {alone['checks_mean']} "
            f"checks, {alone['loops_mean']} loops, rel. lag p95 {alone['relative_lag_p95']}"
        )
    print(f"results in {args.out} ({result['seconds']} s)")
    print(last_line(result))
    failed = [
        f"{j['job_type']} ({j['job_id']}): {j['status']}"
        for j in result["jobs"]
        if j["status"] != "SUCCEEDED"
    ]
    if failed:
        print("jobs that did not succeed, so their counts are not a product's: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
