"""``studio invoke FUNCTION -e events/<name>.json``: ``sam local invoke``'s interface, without Docker.

The function is the stack's own (found by its logical id, ``FinalizeFunction``, or a short name,
``finalize``), invoked through the Lambda API of the stack the CLI talks to: on the local stack
its handler runs in the stack's execution environment, with the environment the template gives
it, against the stack's bucket, tables and simulator. The result goes to stdout and the
function's logs to stderr, as ``sam local invoke`` prints them. Logs come from Lambda's
``LogType=Tail`` (a deployed stack) or from the log file ``studio local up`` writes.
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

from studio_cli.errors import CliError, NotFound, UsageError
from studio_cli.stack import Stack

REPO_EVENTS = Path(__file__).resolve().parents[2] / "events"
LOG_SETTLE_SECONDS = 0.3


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
        text, source = file.read_text(encoding="utf-8"), str(file)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


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
