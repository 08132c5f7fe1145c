"""Run by ``coldstart.py`` as ``python -c <this file's text> <event.json>`` in a function's code
directory: ``import app`` (Lambda's init) and then the handler twice on a sample event, as a cold
environment's first invocation and a warm one. Prints one line, ``FIRST_CALL <json>``, to stderr.

No network: an audit hook refuses sockets. Every AWS request is answered in the process, at once,
by ``botocore``'s HTTP session patched to return 200 with a superset of the fields handlers read
(empty lists, an empty ``Attributes``, a secret string); every Aiuta request (``requests``) by 200
``{}``. The handlers then follow the "nothing there yet" path and most end early with an error;
they get as far in either tree, and everything built until then (clients, the secret, models,
lazily imported modules) is built for real. Patches are installed when their module is loaded,
so that the harness imports nothing the handler would otherwise import during the call.
"""

import importlib.abc
import importlib.machinery
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any


def _no_network(event: str, args: tuple[Any, ...]) -> None:
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        raise RuntimeError(f"network use in the first call: {event} {args!r}")


def _cpu_ms() -> float:
    return sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) * 1000


sys.addaudithook(_no_network)
with open(sys.argv[1]) as sample:
    EVENT = json.load(sample)
WALL, CPU = time.perf_counter(), _cpu_ms()
import app  # noqa: E402

INIT_MS, INIT_CPU_MS = (time.perf_counter() - WALL) * 1000, _cpu_ms() - CPU

ANSWER = json.dumps(
    {
        "Attributes": {"tat_ms": {"N": "0"}},  # the capacity table's request turn
        "Items": [],
        "Count": 0,
        "ScannedCount": 0,
        "Responses": {},
        "UnprocessedKeys": {},
        "SecretString": "bench-key",
        "Name": "bench",
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench",
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:bench:bench",
        "startDate": 0,
        "MessageId": "bench",
        "MD5OfMessageBody": "bench",
        "FailedEntryCount": 0,
        "Entries": [],
    }
).encode()
REQUESTS: list[str] = []


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        if self._body:
            yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        body, self._body = self._body, b""
        return body


def _aws_send(_session: Any, request: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    target = request.headers.get("X-Amz-Target") or b""
    target = target.decode() if isinstance(target, bytes) else target
    host = request.url.split("/")[2]
    service = "s3" if ".s3." in f".{host}" else host.split(".")[0]  # a bucket's host is <bucket>.s3...
    REQUESTS.append(f"{service} {request.method} {target}".strip())
    json_protocol = b"json" in (request.headers.get("Content-Type") or b"")
    return AWSResponse(request.url, 200, {}, _Body(ANSWER if json_protocol else b""))


def _aiuta_send(_adapter: Any, request: Any, **_: Any) -> Any:
    import requests

    REQUESTS.append(f"aiuta {request.method}")
    response = requests.Response()
    response.status_code, response._content, response.url, response.request = 200, b"{}", request.url, request
    response.headers["Content-Type"] = "application/json"
    return response


def _patch_botocore(module: ModuleType) -> None:
    module.URLLib3Session.send = _aws_send


def _patch_requests(module: ModuleType) -> None:
    module.HTTPAdapter.send = _aiuta_send


PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "botocore.httpsession": _patch_botocore,
    "requests.adapters": _patch_requests,
}


class _PatchOnLoad(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        assert spec is not None and spec.loader is not None
        exec_module = spec.loader.exec_module

        def patched(module: ModuleType) -> None:
            exec_module(module)
            PATCHES[name](module)

        spec.loader.exec_module = patched  # type: ignore[method-assign]
        return spec


class _Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = f"/aws/lambda/{function_name}"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def call() -> dict[str, Any]:
    REQUESTS.clear()
    wall, cpu = time.perf_counter(), _cpu_ms()
    try:
        app.lambda_handler(json.loads(json.dumps(EVENT)), _Context())
        ended = "returned"
    except Exception as exc:
        ended = f"raised {type(exc).__name__}"
    return {
        "ms": (time.perf_counter() - wall) * 1000,
        "cpu_ms": _cpu_ms() - cpu,
        "ended": ended,
        "requests": list(REQUESTS),
    }


for loaded_name, patch in PATCHES.items():
    if loaded_name in sys.modules:
        patch(sys.modules[loaded_name])
sys.meta_path.insert(0, _PatchOnLoad())
FIRST, SECOND = call(), call()
REPORT = {"init_ms": INIT_MS, "init_cpu_ms": INIT_CPU_MS, "first": FIRST, "second": SECOND}
print(f"\nFIRST_CALL {json.dumps(REPORT)}", file=sys.stderr)
