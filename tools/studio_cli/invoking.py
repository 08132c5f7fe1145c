"""``studio invoke FUNCTION -e events/<name>.json``: ``sam local invoke``'s interface, without Docker.

The function is the stack's own (found by its logical id, ``FinalizeFunction``, or a short name,
``finalize``), invoked through the Lambda API of the stack the CLI talks to: on the local stack
its handler runs in the stack's execution environment, with the environment the template gives
it, against the stack's bucket, tables and simulator. The result goes to stdout and the
function's logs to stderr, as ``sam local invoke`` prints them. Logs come from Lambda's
``LogType=Tail`` (a deployed stack) or from the log file ``studio local up`` writes.

A task's event names a job (``job_id``, its photos' keys, its Aiuta operations). On the local
stack, what it names and the stack lacks is created first and said on stderr: the photos (drawn
samples), the job's record (QUEUED, as ingest records it) and, at the simulator, each operation
under its id, finished. So every sample in ``events/`` runs on a fresh stack, and a task never
writes half a record for a job that was never recorded. A deployed stack is left as it is.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from studio_cli.errors import CliError, NotFound, UsageError
from studio_cli.stack import Stack

REPO_EVENTS = Path(__file__).resolve().parents[2] / "events"
LOG_SETTLE_SECONDS = 0.3
# Each sample event and the function it is for (catalogue.json starts the catalogue state machine).
SAMPLE_EVENTS = {
    "ingest_s3_test_event.json": "IngestFunction",
    "ingest_s3_put.json": "IngestFunction",
    "ingest_product_json.json": "IngestFunction",
    "ingest_regenerate.json": "IngestFunction",
    "ingest_review.json": "IngestFunction",
    "catalogue_check.json": "CatalogueFunction",
    "submit.json": "SubmitFunction",
    "check_status.json": "CheckStatusFunction",
    "resume.json": "CheckStatusFunction",
    "plan_capacity_wait.json": "PlanCapacityWaitFunction",
    "finalize.json": "FinalizeFunction",
    "review_publish.json": "ReviewFunction",
    "regenerate.json": "RegenerateFunction",
    "record_failure.json": "RecordFailureFunction",
}
STATE_MACHINE_INPUTS = {"catalogue.json": "STUDIO_CATALOGUE_STATE_MACHINE_ARN"}


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str


@dataclass
class Invocation:
    function: Function
    payload: Any
    error: str | None  # Lambda's FunctionError ("Unhandled"), None when the handler returned
    logs: list[str] = field(default_factory=list)
    log_source: str = ""


def _simple(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower()).removesuffix("function")


def functions(stack: Stack) -> list[Function]:
    if not stack.name:
        raise CliError(
            "studio invoke needs the stack's name to find its functions",
            hint="source the local stack's env file (it sets STUDIO_STACK) or pass --stack NAME",
        )
    resources = stack.client("cloudformation").describe_stack_resources(StackName=stack.name)[
        "StackResources"
    ]
    return [
        Function(r["LogicalResourceId"], r["PhysicalResourceId"])
        for r in resources
        if r.get("ResourceType") == "AWS::Lambda::Function" and r.get("PhysicalResourceId")
    ]


def find_function(stack: Stack, wanted: str) -> Function:
    candidates = functions(stack)
    for function in candidates:
        if wanted in (function.logical_id, function.name) or _simple(wanted) == _simple(function.logical_id):
            return function
    raise NotFound(
        f"stack {stack.name} has no function {wanted!r}",
        hint="one of: " + ", ".join(sorted(f.logical_id for f in candidates)),
    )


def read_event(path: str) -> Any:
    """The event: a file (``events/<name>.json``, also found in the repository's events/) or ``-``."""
    if path == "-":
        text, source = sys.stdin.read(), "stdin"
    else:
        file = Path(path)
        if not file.is_file() and (REPO_EVENTS / file.name).is_file():
            file = REPO_EVENTS / file.name
        if not file.is_file():
            known = ", ".join(sorted(p.name for p in REPO_EVENTS.glob("*.json")))
            raise UsageError(f"no event file {path}", hint=f"the sample events are in events/: {known}")
        if file.name in STATE_MACHINE_INPUTS and file.resolve().parent == REPO_EVENTS:
            raise UsageError(
                f"{path} is the catalogue state machine's input, not a function's event",
                hint=(
                    "upload a catalogue with `studio submit feed.csv` (ingest starts its run), or set its "
                    "bucket, key and etag to an uploaded catalogue and start it: aws stepfunctions "
                    f"start-execution --state-machine-arn ${STATE_MACHINE_INPUTS[file.name]} "
                    f"--input file://{path}"
                ),
            )
        text, source = file.read_text(encoding="utf-8"), str(file)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


def prepare_local_stack(stack: Stack, event: Any) -> list[str]:
    """On the local stack: what a task's event names and the stack lacks, created; what was made."""
    if stack.local and isinstance(event, dict) and event.get("task") == "check_catalogue":
        return prepare_catalogue(stack, event)
    if isinstance(event, dict) and isinstance(event.get("state"), dict):  # the review's tasks
        event = event["state"]
    if not stack.local or not isinstance(event, dict) or "job_id" not in event or "job" not in event:
        return []
    from pydantic import ValidationError

    from studio_cli.samples import product_photo
    from studio_core.domain.identity import execution_name
    from studio_core.domain.record import RequestKind
    from studio_core.domain.state import JobState

    try:
        state = JobState.model_validate(event)
    except ValidationError:
        return []  # not a job's state: the function says what is wrong with it
    made: list[str] = []
    storage = stack.storage()
    photos = [key for key in state.input_keys if not storage.exists(key)]
    for number, key in enumerate(photos):
        storage.put_bytes(key, product_photo("tshirt", (214, 206, 190), angle=number), "image/jpeg")
    if photos:
        made.append(f"the photos {', '.join(photos)} (drawn samples)")
    jobs = stack.jobs()
    if jobs.get(state.job_id) is None:
        jobs.create_queued(
            job_id=state.job_id,
            product_id=state.product_id,
            spec=state.job,
            request_kind=RequestKind.FOLDER,
            source_key=state.input_keys[0] if state.input_keys else f"inbox/{state.product_id}/",
            execution_name=execution_name(state.job_id),
            input_keys=state.input_keys,
        )
        made.append(f"the job record {state.job_id} (QUEUED, as ingest records a job)")
    operations = [op for op in state.operations if op.operation_id]
    admin = simulator_admin_url(stack)
    if operations and admin:
        for operation in operations:
            if seed_operation(stack, admin, state, operation):
                what = f"{operation.kind.value} operation {operation.operation_id}"
                made.append(f"the simulator's {what} (SUCCESS)")
    return made


SAMPLE_CATALOGUE = (
    "id,title,image_urls,on_figure_image_types\n"
    "sku-123,Linen shirt,https://example.com/photos/sku-123-front.jpg,front/standing\n"
)


def prepare_catalogue(stack: Stack, event: dict[str, Any]) -> list[str]:
    """A catalogue check's event: the catalogue it names, uploaded when the stack lacks that version
    (the event then names the version uploaded, as ingest would)."""
    catalogue = event.get("catalogue")
    if not isinstance(catalogue, dict) or not catalogue.get("key"):
        return []
    storage = stack.storage()
    catalogue["bucket"] = stack.bucket
    if storage.exists(catalogue["key"], catalogue.get("version_id")):
        return []
    # Under samples/, not inbox/: placing it must not start a catalogue run of its own.
    name = catalogue["key"].rsplit("/", 1)[-1]
    catalogue["key"], catalogue["report_prefix"] = f"samples/{name}", f"samples/{name}.report/"
    answer = stack.s3().put_object(
        Bucket=stack.bucket, Key=catalogue["key"], Body=SAMPLE_CATALOGUE.encode(), ContentType="text/csv"
    )
    catalogue["etag"] = str(answer.get("ETag", "")).strip('"')
    if answer.get("VersionId"):
        catalogue["version_id"] = answer["VersionId"]
    else:
        catalogue.pop("version_id", None)
    return [f"the catalogue {catalogue['key']} (one sample row), the version the event now names"]


def simulator_admin_url(stack: Stack) -> str | None:
    """The admin URL of the Studio simulator the local stack uses, if it is one."""
    import requests

    if not stack.aiuta_api_url:
        return None
    where = urlparse(stack.aiuta_api_url)
    admin = f"{where.scheme}://{where.netloc}/_sim"
    try:
        answer = requests.get(f"{admin}/info", timeout=5)
        is_simulator = answer.ok and answer.json().get("simulator") is True
    except (requests.RequestException, ValueError):
        return None
    return admin if is_simulator else None


def seed_operation(stack: Stack, admin: str, state: Any, operation: Any) -> bool:
    """The operation under its id at the simulator, finished; True when it had to be created."""
    import requests

    from studio_core.aiuta.requests import ProductInfo
    from studio_core.domain.vocabulary import Kind

    spec = state.job
    urls = [stack.storage().presigned_get_url(key, 3600) for key in state.input_keys]
    info = ProductInfo(
        id=state.product_id,
        title=spec.product.title,
        category=spec.product.category,
        description=spec.product.description,
        image_urls=list(spec.image_urls or []) or urls,
    )
    on_figure = operation.kind is Kind.ON_FIGURE
    request = spec.on_figure_request(info) if on_figure else spec.flat_lay_request(info)
    body = {
        "operation_id": operation.operation_id,
        "kind": operation.kind.value,
        "request": request.to_api(),
    }
    answer = requests.post(f"{admin}/operations", json=body, timeout=30)
    if not answer.ok:
        raise CliError(
            f"the simulator did not take the event's operation {operation.operation_id}: "
            f"{answer.status_code} {answer.text[:200]}"
        )
    return bool(answer.json().get("created"))


def invoke(stack: Stack, wanted: str, event: Any) -> Invocation:
    function = find_function(stack, wanted)
    log_file = os.environ.get("STUDIO_LOCAL_LOG")
    start = Path(log_file).stat().st_size if log_file and Path(log_file).is_file() else None
    answer = stack.client("lambda").invoke(
        FunctionName=function.name, Payload=json.dumps(event).encode(), LogType="Tail"
    )
    raw = answer["Payload"].read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode("utf-8", "replace")
    invocation = Invocation(function, payload, answer.get("FunctionError"))
    if answer.get("LogResult"):
        invocation.logs = base64.b64decode(answer["LogResult"]).decode("utf-8", "replace").splitlines()
        invocation.log_source = "Lambda (the last 4 KB)"
    elif log_file and start is not None:
        time.sleep(LOG_SETTLE_SECONDS)  # the execution environment flushes after it answers
        invocation.logs = function_lines(read_from(Path(log_file), start), function.name)
        invocation.log_source = log_file
    return invocation


def read_from(path: Path, offset: int) -> list[str]:
    with path.open("rb") as stream:
        stream.seek(offset)
        return stream.read().decode("utf-8", "replace").splitlines()


def function_lines(lines: list[str], function_name: str) -> list[str]:
    """The lines a function wrote: its JSON log lines (and metrics, warnings, tracebacks), without
    other functions' JSON lines or the local servers' request logs."""
    kept = []
    for line in lines:
        if not line.strip() or '" 200 -' in line or 'HTTP/1.1"' in line:
            continue
        if line.startswith("{"):
            try:
                document = json.loads(line)
            except ValueError:
                document = None
            if isinstance(document, dict) and document.get("function_name") not in (None, function_name):
                continue
        kept.append(line)
    return kept
