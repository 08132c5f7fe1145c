"""Running the template's Lambda handlers in this process, where moto would need Docker.

``InProcessLambdas.install()`` routes ``moto.awslambda.models.LambdaBackend.invoke`` (which
serves ``lambda.invoke`` and moto's Step Functions Task states) so that invoking a registered
function imports its ``app.py`` from its code directory and calls the real handler, the way the
Lambda Python runtime does:

- the environment is the function's variables as moto stored them after CloudFormation resolved
  them, plus the runtime's own (``AWS_LAMBDA_FUNCTION_NAME``...), ``AWS_ENDPOINT_URL`` pointing
  at moto and fake credentials; the host's ``AWS_*`` / ``POWERTOOLS_*`` / ``STUDIO_*`` /
  ``AIUTA_*`` settings are hidden, so a variable the template forgot fails locally too. It is
  the invoking thread's own view of ``os.environ`` (``thread_env``): other threads of this
  process neither see it nor can change it mid-invocation;
- ``sys.path``, cached clients and Powertools' globals are process-wide, so invocations run one
  at a time;
- an exception answers like Lambda: header ``X-Amz-Function-Error: Unhandled`` and a payload
  ``{"errorMessage", "errorType", "stackTrace"}`` whose ``errorType`` (the exception's class
  name) is the Error name a state machine's ``Retry`` / ``Catch`` sees;
- each function's module is imported once (its cold start) under a unique name, so two
  functions' ``app.py`` never collide; a failed import is retried on the next call.

Sibling modules of ``app.py`` are imported under their plain names and are shared if two
functions have modules of the same name.
"""

from __future__ import annotations

import decimal
import importlib.util
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from studio_local import thread_env
from studio_local.moto_internals import LambdaAnswer, route_lambda_invocations

logger = logging.getLogger("studio_local.lambda")

# Host variables hidden while a handler runs (a real Lambda never sees the developer's shell).
HIDDEN_PREFIXES = ("AWS_", "POWERTOOLS_", "LAMBDA_", "STUDIO_", "AIUTA_", "_HANDLER", "_X_AMZN_TRACE_ID")
HISTORY_LENGTH = 500
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "studio-local",
    "AWS_SECRET_ACCESS_KEY": "studio-local-not-a-secret",
    "AWS_SESSION_TOKEN": "studio-local-session",
}


@dataclass
class LocalFunction:
    """A deployed function whose code is a local directory."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, str]
    layer_dirs: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class InvocationResult:
    """What the function answered: its JSON payload, and the error type when it raised."""

    payload: bytes
    error_type: str | None = None
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


@dataclass(frozen=True)
class InvocationRecord:
    """One past invocation, for tests and the demo: which function, on what, and how it ended."""

    logical_id: str
    request_id: str
    event: Any
    error_type: str | None
    duration_seconds: float


class LambdaContext:
    """The ``context`` argument a handler receives, with the fields Lambda's Python runtime provides."""

    def __init__(self, function: LocalFunction, request_id: str) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = function.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + function.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class HandlerImportError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _json_default(value: Any) -> Any:
    # The Lambda runtime's encoder also answers Decimal (from DynamoDB) as a number.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def error_payload(error_type: str, message: str, stack: list[str] | None = None) -> bytes:
    """The payload Lambda answers when a handler fails (what Step Functions puts in ``Cause``)."""
    return json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}).encode()


class InProcessLambdas:
    """Registered functions, invoked in-process; ``install()`` routes moto's Lambda invocations here."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        before_invoke: Callable[[], None] | None = None,
        extra_environment: Mapping[str, str] | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.before_invoke = before_invoke
        self.extra_environment = dict(extra_environment or {})
        self.counts: Counter[str] = Counter()
        self.history: deque[InvocationRecord] = deque(maxlen=HISTORY_LENGTH)
        self._functions: dict[str, LocalFunction] = {}
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.Lock()
        self._undo_route: Callable[[], None] | None = None
        self._background: list[threading.Thread] = []
        self._environ_installed = False
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()

    # --- registry ---------------------------------------------------------------------------

    def register(self, function: LocalFunction) -> None:
        self._functions[function.name] = function

    @property
    def functions(self) -> list[LocalFunction]:
        return list(self._functions.values())

    def find(self, name_or_arn: str) -> LocalFunction | None:
        """The function named by a name, an ARN or a qualified ARN (``...:function:name:$LATEST``)."""
        name = (
            name_or_arn.split(":function:", 1)[1].split(":", 1)[0]
            if ":function:" in name_or_arn
            else name_or_arn
        )
        return self._functions.get(name)

    def invocation_counts(self) -> dict[str, int]:
        """Invocations so far by the template's logical id (``IngestFunction``...), zeros included."""
        return {f.logical_id: self.counts[f.logical_id] for f in self._functions.values()}

    # --- moto hook ----------------------------------------------------------------------------

    def install(self) -> None:
        """Route moto's Lambda invocations of registered functions to this object."""
        if self._undo_route is None:
            self._undo_route = route_lambda_invocations(self._serve_moto)

    def uninstall(self, timeout: float = 30.0) -> None:
        """Give moto its own ``invoke`` and ``os.environ`` its own class back, after asynchronous
        invocations in flight finish."""
        for thread in self._background:
            thread.join(timeout)
        self._background.clear()
        if self._undo_route is not None:
            self._undo_route()
            self._undo_route = None
        if self._environ_installed:
            thread_env.uninstall()
            self._environ_installed = False

    def _serve_moto(self, function_name: str, body: Any, headers: Any) -> LambdaAnswer | None:
        function = self.find(function_name)
        if function is None:
            return None
        invocation_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        event = json.loads(body) if body else {}
        if invocation_type == "DryRun":
            return b"", None
        if invocation_type == "Event":
            # Lambda queues an asynchronous invocation and answers 202 at once.
            thread = threading.Thread(
                target=self.invoke,
                args=(function.name, event),
                name=f"lambda-event-{function.name}",
                daemon=True,
            )
            self._background = [t for t in self._background if t.is_alive()] + [thread]
            thread.start()
            return b"", None
        result = self.invoke(function.name, event)
        return result.payload, result.error_type

    # --- invocation ---------------------------------------------------------------------------

    def invoke(self, name_or_arn: str, event: Any) -> InvocationResult:
        """Run the function's handler on ``event`` (one invocation at a time) and return its answer."""
        function = self.find(name_or_arn)
        if function is None:
            raise KeyError(f"no local function {name_or_arn}")
        request_id = str(uuid.uuid4())
        with self._in_flight_lock:
            self._in_flight += 1
        try:
            return self._invoke_serialised(function, event, request_id)
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        """Invocations running or waiting for their turn."""
        return self._in_flight

    def _invoke_serialised(self, function: LocalFunction, event: Any, request_id: str) -> InvocationResult:
        with self._lock:
            self.counts[function.logical_id] += 1
            started = time.monotonic()
            with self._function_environment(function, request_id), self._import_path(function):
                payload, error_type = self._run(function, event, request_id)
            elapsed = time.monotonic() - started
            self.history.append(InvocationRecord(function.logical_id, request_id, event, error_type, elapsed))
        if elapsed > function.timeout_seconds:
            # Lambda would have stopped it; a thread cannot be stopped, so say so loudly.
            logger.warning(
                "%s ran %.1f s, longer than its Timeout of %d s: on AWS it would have timed out",
                function.logical_id,
                elapsed,
                function.timeout_seconds,
            )
        return InvocationResult(payload, error_type, elapsed)

    def _run(self, function: LocalFunction, event: Any, request_id: str) -> tuple[bytes, str | None]:
        try:
            if self.before_invoke is not None:
                self.before_invoke()
            handler = self._handler(function)
        except HandlerImportError as exc:
            return error_payload(exc.error_type, str(exc)), exc.error_type
        try:
            result = handler(event, LambdaContext(function, request_id))
        except Exception as exc:
            stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
            return error_payload(type(exc).__name__, str(exc), stack), type(exc).__name__
        try:
            return json.dumps(result, default=_json_default).encode(), None
        except (TypeError, ValueError) as exc:
            return error_payload(
                "Runtime.MarshalError", f"Unable to marshal response: {exc}"
            ), "Runtime.MarshalError"

    def _handler(self, function: LocalFunction) -> Callable[[Any, Any], Any]:
        module_path, _, attribute = function.handler.rpartition(".")
        module = self._modules.get(function.logical_id)
        if module is None:
            module = self._import(function, module_path)
            self._modules[function.logical_id] = module
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise HandlerImportError(
                "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_path}'"
            )
        return handler

    def _import(self, function: LocalFunction, module_path: str) -> ModuleType:
        file = function.code_dir / (module_path.replace(".", "/") + ".py")
        unique_name = f"_studio_local_{function.logical_id}_{module_path.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(unique_name, file)
        if spec is None or spec.loader is None or not file.is_file():
            raise HandlerImportError(
                "Runtime.ImportModuleError", f"Unable to import module '{module_path}': no file {file}"
            )
        module = importlib.util.module_from_spec(spec)
        # Registered first so that pydantic / dataclasses can find the module by name.
        sys.modules[unique_name] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            sys.modules.pop(unique_name, None)
            raise HandlerImportError(
                "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_path}': {exc}"
            ) from exc
        except ImportError as exc:
            sys.modules.pop(unique_name, None)
            raise HandlerImportError(
                "Runtime.ImportModuleError", f"Unable to import module '{module_path}': {exc}"
            ) from exc
        except Exception as exc:
            sys.modules.pop(unique_name, None)
            raise HandlerImportError(type(exc).__name__, f"{exc}") from exc
        return module

    def environment_for(self, function: LocalFunction, request_id: str = "") -> dict[str, str]:
        """The variables a handler sees: the runtime's, the function's, and moto's endpoint."""
        runtime_variables = {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"$LATEST/{request_id or 'local'}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            # What `sam local invoke` sets; Powertools then keeps X-Ray tracing off.
            "AWS_SAM_LOCAL": "true",
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "_HANDLER": function.handler,
            **FAKE_CREDENTIALS,
        }
        return {**runtime_variables, **function.environment, **self.extra_environment}

    @contextmanager
    def _function_environment(self, function: LocalFunction, request_id: str) -> Iterator[None]:
        if not self._environ_installed:
            thread_env.install()
            self._environ_installed = True
        with thread_env.overlay(self.environment_for(function, request_id), HIDDEN_PREFIXES):
            yield

    @contextmanager
    def _import_path(self, function: LocalFunction) -> Iterator[None]:
        # Lambda puts the code first and the layers' python directories (/opt/python) after it.
        added = [str(function.code_dir), *(str(d) for d in function.layer_dirs)]
        sys.path[:0] = added
        try:
            yield
        finally:
            for entry in added:
                sys.path.remove(entry)


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value
