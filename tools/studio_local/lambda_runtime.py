"""Running the template's Lambda handlers on this machine, where moto would need Docker.

``LocalLambdas.install()`` routes ``moto.awslambda.models.LambdaBackend.invoke`` (which serves
``lambda.invoke`` and moto's Step Functions Task states; ``moto_internals.route_lambda_invocations``,
the hook the tests' ``serve_lambdas`` uses too) so that invoking a registered function runs its
real handler the way Lambda does:

- **Execution environments are processes.** Each one (``lambda_worker``) imports the handler once
  (its cold start) and then serves one invocation at a time, warm, until the stack stops. So each
  environment has its own ``os.environ`` (the function's variables as moto stored them after
  CloudFormation resolved them, the runtime's own ``AWS_LAMBDA_*``, ``AWS_ENDPOINT_URL`` pointing
  at moto and fake credentials; none of the host's ``AWS_*`` / ``STUDIO_*`` / ``AIUTA_*``), its
  own imported modules, Powertools globals (Logger keys, the Metrics buffer) and cached clients,
  exactly as two Lambda sandboxes do not share them. Nothing a handler does leaks into another
  invocation running at the same time.
- **Concurrency is bounded like Lambda's.** A function with ``ReservedConcurrentExecutions``
  never has more environments than that; an invocation beyond it is throttled: the Lambda API
  answers 429 ``TooManyRequestsException`` (Step Functions sees ``Lambda.TooManyRequestsException``).
  A function without a reservation draws from the account's unreserved pool on AWS; here it gets
  at most ``unreserved_environments`` environments, and a call beyond that waits for one to be
  free (AWS would have started one), so the local stack never throttles where AWS would not.
- An exception answers like Lambda: header ``X-Amz-Function-Error: Unhandled`` and a payload
  ``{"errorMessage", "errorType", "stackTrace"}`` whose ``errorType`` (the exception's class
  name) is the Error name a state machine's ``Retry`` / ``Catch`` sees. An import error fails the
  invocation and discards the environment, so the next call imports again.
- A handler running past its ``Timeout`` is stopped (its process is killed) and the invocation
  fails with ``Sandbox.Timedout``, as on Lambda.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio_local.lambda_worker import error_document
from studio_local.moto_internals import LambdaAnswer, TooManyRequestsException, route_lambda_invocations

logger = logging.getLogger("studio_local.lambda")

HISTORY_LENGTH = 20000
DEFAULT_UNRESERVED_ENVIRONMENTS = 5
# Host variables a handler's process keeps: enough for Python to run, nothing about AWS or the project.
KEPT_HOST_VARIABLES = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "studio-local",
    "AWS_SECRET_ACCESS_KEY": "studio-local-not-a-secret",
    "AWS_SESSION_TOKEN": "studio-local-session",
}
INIT_TIMEOUT_SECONDS = 60.0
WORKER_SCRIPT = str(Path(__file__).with_name("lambda_worker.py"))


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
    reserved_concurrency: int | None = None


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
    started_at: float = 0.0


class Throttled(Exception):
    """Every environment the function may have is busy (its reserved concurrency is used up)."""

    def __init__(self, function: LocalFunction) -> None:
        super().__init__(
            f"Rate Exceeded: {function.logical_id} is at its reserved concurrency "
            f"({function.reserved_concurrency})"
        )
        self.function = function


def error_payload(error_type: str, message: str, stack: list[str] | None = None) -> bytes:
    return error_document(error_type, message, stack).encode()


class ExecutionEnvironment:
    """One worker process of one function: started cold, then reused for one invocation at a time."""

    def __init__(self, function: LocalFunction, environment: Mapping[str, str]) -> None:
        self.function = function
        requests_read, self._requests = os.pipe()
        self._answers, answers_write = os.pipe()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, WORKER_SCRIPT, str(requests_read), str(answers_write)],
            cwd=function.code_dir,
            env=dict(environment),
            stdin=subprocess.DEVNULL,
            pass_fds=(requests_read, answers_write),
            # A process group of its own: a Ctrl-C at the terminal is the stack's to handle (not
            # the handler's, mid-invocation), and the stack can kill the group when it must.
            start_new_session=True,
        )
        os.close(requests_read)
        os.close(answers_write)
        self._writer = os.fdopen(self._requests, "w", encoding="utf-8")
        self._reader = os.fdopen(self._answers, "r", encoding="utf-8")
        self.init_error: tuple[str, str] | None = None
        self.invocations = 0
        init = self._read(INIT_TIMEOUT_SECONDS)
        if init is None:
            self.init_error = ("Runtime.ExitError", "the runtime exited before its init finished")
        elif init.get("init") != "ok":
            self.init_error = (str(init.get("errorType")), str(init.get("errorMessage")))

    def invoke(self, event: Any, request_id: str) -> tuple[bytes, str | None]:
        timeout = self.function.timeout_seconds
        request = {"request_id": request_id, "event": event, "deadline": time.time() + timeout}
        try:
            self._writer.write(json.dumps(request) + "\n")
            self._writer.flush()
        except (BrokenPipeError, ValueError):
            return error_payload("Runtime.ExitError", "the runtime exited"), "Runtime.ExitError"
        answer = self._read(timeout)
        self.invocations += 1
        if answer is None:
            if self.process.poll() is None:
                # Where it was stuck, on the function's stderr, then stopped as Lambda stops it.
                with contextlib.suppress(OSError):
                    self.process.send_signal(signal.SIGUSR1)
                    time.sleep(0.5)
                self.close(kill=True)
                message = f"Task timed out after {timeout:.2f} seconds"
                return error_payload("Sandbox.Timedout", message), "Sandbox.Timedout"
            message = "the runtime exited mid-invocation"
            return error_payload("Runtime.ExitError", message), "Runtime.ExitError"
        return str(answer["payload"]).encode(), answer.get("error_type")

    def _read(self, timeout: float) -> dict[str, Any] | None:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self._reader.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive() or not line or not line[0]:
            return None
        return json.loads(line[0])

    @property
    def alive(self) -> bool:
        return self.init_error is None and self.process.poll() is None

    def close(self, kill: bool = False) -> None:
        # Killed first: closing the answer pipe waits for a reader blocked on it.
        if kill:
            self.process.kill()
        for stream in (self._writer, self._reader):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class EnvironmentPool:
    """A function's environments: reuse an idle one, start one below the limit, else throttle or wait."""

    def __init__(
        self, function: LocalFunction, start: Callable[[], ExecutionEnvironment], unreserved_limit: int
    ) -> None:
        self.function = function
        self.limit = function.reserved_concurrency or unreserved_limit
        self.throttles = function.reserved_concurrency is not None
        self._start = start
        self._idle: list[ExecutionEnvironment] = []
        self._count = 0
        self._busy = 0
        self.peak_busy = 0
        self.cold_starts = 0
        self.throttled = 0
        self._condition = threading.Condition()
        self._closed = False

    def acquire(self) -> ExecutionEnvironment:
        with self._condition:
            while True:
                if self._closed:
                    raise RuntimeError("the local stack is stopping")
                if self._idle:
                    environment = self._idle.pop()
                    break
                if self._count < self.limit:
                    self._count += 1
                    environment = None
                    break
                if self.throttles:
                    self.throttled += 1
                    raise Throttled(self.function)
                self._condition.wait(1.0)
            self._busy += 1
            self.peak_busy = max(self.peak_busy, self._busy)
        if environment is not None:
            return environment
        try:
            self.cold_starts += 1
            return self._start()
        except BaseException:
            with self._condition:
                self._count -= 1
                self._busy -= 1
                self._condition.notify()
            raise

    def release(self, environment: ExecutionEnvironment) -> None:
        with self._condition:
            self._busy -= 1
            if environment.alive and not self._closed:
                self._idle.append(environment)
            else:
                self._count -= 1
                environment.close(kill=not environment.alive)
            self._condition.notify()

    @property
    def busy(self) -> int:
        return self._busy

    def close(self) -> None:
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._condition.notify_all()
        for environment in idle:
            environment.close()


class LocalLambdas:
    """Registered functions, run in execution environments; ``install()`` routes moto's invocations here."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        extra_environment: Mapping[str, str] | None = None,
        unreserved_environments: int = DEFAULT_UNRESERVED_ENVIRONMENTS,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.extra_environment = dict(extra_environment or {})
        self.unreserved_environments = unreserved_environments
        self.counts: Counter[str] = Counter()
        self.throttles: Counter[str] = Counter()
        self.history: deque[InvocationRecord] = deque(maxlen=HISTORY_LENGTH)
        self._functions: dict[str, LocalFunction] = {}
        self._pools: dict[str, EnvironmentPool] = {}
        self._undo_route: Callable[[], None] | None = None
        self._background: list[threading.Thread] = []
        # Every environment's process, for kill_all(); replaced, never mutated, so a signal handler
        # can walk it while another thread starts an environment.
        self._processes: tuple[subprocess.Popen[bytes], ...] = ()
        self._in_flight = 0
        self._lock = threading.Lock()

    # --- registry ---------------------------------------------------------------------------

    def register(self, function: LocalFunction) -> None:
        self._functions[function.name] = function
        self._pools[function.name] = EnvironmentPool(
            function, lambda: self._start_environment(function), self.unreserved_environments
        )

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

    def concurrency(self) -> dict[str, dict[str, int | None]]:
        """Per function: its limit, whether it throttles, environments started, peak busy, throttles."""
        return {
            pool.function.logical_id: {
                "reserved": pool.function.reserved_concurrency,
                "limit": pool.limit,
                "cold_starts": pool.cold_starts,
                "peak_concurrent": pool.peak_busy,
                "throttled": pool.throttled,
            }
            for pool in self._pools.values()
        }

    # --- moto hook ----------------------------------------------------------------------------

    def install(self) -> None:
        """Route moto's Lambda invocations of registered functions to this object."""
        if self._undo_route is None:
            self._undo_route = route_lambda_invocations(self._serve_moto)

    def uninstall(self, timeout: float = 30.0) -> None:
        """Give moto its own ``invoke`` back and stop every environment, after asynchronous
        invocations in flight finish."""
        for thread in self._background:
            thread.join(timeout)
        self._background.clear()
        if self._undo_route is not None:
            self._undo_route()
            self._undo_route = None
        for pool in self._pools.values():
            pool.close()

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
            # Lambda queues an asynchronous invocation, answers 202 at once and retries throttles.
            thread = threading.Thread(
                target=self._invoke_eventually, args=(function.name, event), name="lambda-event", daemon=True
            )
            self._background = [t for t in self._background if t.is_alive()] + [thread]
            thread.start()
            return b"", None
        try:
            result = self.invoke(function.name, event)
        except Throttled as exc:
            raise TooManyRequestsException(str(exc)) from None
        return result.payload, result.error_type

    def _invoke_eventually(self, name: str, event: Any) -> None:
        delay = 0.5
        while True:
            try:
                self.invoke(name, event)
                return
            except Throttled:
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
            except RuntimeError:
                return  # stopping

    # --- invocation ---------------------------------------------------------------------------

    def invoke(self, name_or_arn: str, event: Any) -> InvocationResult:
        """Run the function's handler on ``event`` in one of its environments and return its answer.

        Raises ``Throttled`` when the function is at its reserved concurrency.
        """
        function = self.find(name_or_arn)
        if function is None:
            raise KeyError(f"no local function {name_or_arn}")
        pool = self._pools[function.name]
        request_id = str(uuid.uuid4())
        with self._lock:
            self._in_flight += 1
        try:
            try:
                environment = pool.acquire()
            except Throttled:
                self.throttles[function.logical_id] += 1
                raise
            started_wall, started = time.time(), time.monotonic()
            try:
                if environment.init_error is not None:
                    error_type, message = environment.init_error
                    payload, error = error_payload(error_type, message), error_type
                else:
                    payload, error = environment.invoke(event, request_id)
            finally:
                pool.release(environment)
            elapsed = time.monotonic() - started
            with self._lock:
                self.counts[function.logical_id] += 1
                self.history.append(
                    InvocationRecord(function.logical_id, request_id, event, error, elapsed, started_wall)
                )
            return InvocationResult(payload, error, elapsed)
        finally:
            with self._lock:
                self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        """Invocations running or waiting for an environment."""
        return self._in_flight

    def _start_environment(self, function: LocalFunction) -> ExecutionEnvironment:
        environment = ExecutionEnvironment(function, self.environment_for(function))
        with self._lock:
            alive = tuple(p for p in self._processes if p.poll() is None)
            self._processes = (*alive, environment.process)
        return environment

    def kill_all(self) -> int:
        """Kills every execution environment's process group at once (busy ones too); how many
        were still running. Safe from a signal handler: it takes no lock."""
        killed = 0
        for process in self._processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                    killed += 1
        return killed

    def environment_for(self, function: LocalFunction) -> dict[str, str]:
        """The process environment of the function's execution environments."""
        host = {name: os.environ[name] for name in KEPT_HOST_VARIABLES if name in os.environ}
        search_path = [str(function.code_dir), *(str(d) for d in function.layer_dirs)]
        runtime_variables = {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"$LATEST/{uuid.uuid4().hex}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            # No profile or config of the developer's may reach a handler.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            # What `sam local invoke` sets; Powertools then keeps X-Ray tracing off.
            "AWS_SAM_LOCAL": "true",
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "_HANDLER": function.handler,
            "_STUDIO_LOCAL_FUNCTION_ARN": function.arn,
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(search_path),
            "PYTHONUNBUFFERED": "1",
            **FAKE_CREDENTIALS,
        }
        return {**host, **runtime_variables, **function.environment, **self.extra_environment}


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value
