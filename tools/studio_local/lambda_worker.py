"""One Lambda execution environment: a process that imports a handler once and runs its invocations.

``LocalLambdas`` runs this file as a script, ``python lambda_worker.py <requests-fd> <answers-fd>``,
with the function's environment as the real process environment and its code directory as the
working directory (Lambda's ``/var/task``): the code directory, then the layer directories
(``PYTHONPATH``), then the interpreter's packages are the import path, as in Lambda. It is run as a
file, not as ``-m studio_local...``, so that nothing of the local stack (moto, the simulator) is
imported into a handler's process. Like
Lambda's runtime, the worker imports the handler at start (the init phase, reported once), then
serves one invocation at a time, warm, until its request pipe closes. The protocol is one JSON
document per line:

    worker -> parent   {"init": "ok"}  or  {"init": "error", "errorType": ..., "errorMessage": ...}
    parent -> worker   {"request_id": ..., "event": ..., "deadline": <epoch seconds>}
    worker -> parent   {"payload": "<the JSON answer>", "error_type": null | "<errorType>"}

This module imports nothing of the project, so the handler's own imports decide what is loaded.
"""

from __future__ import annotations

import decimal
import faulthandler
import importlib.util
import json
import os
import signal
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The ``context`` argument a handler receives, with the fields Lambda's Python runtime provides."""

    def __init__(self, request_id: str, deadline: float) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("_STUDIO_LOCAL_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _json_default(value: Any) -> Any:
    # Lambda's runtime encoder also answers Decimal (from DynamoDB) as a number.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def error_document(error_type: str, message: str, stack: list[str] | None = None) -> str:
    """The payload Lambda answers when a handler fails (what Step Functions puts in ``Cause``)."""
    return json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": stack or []})


def import_handler(handler: str) -> Any:
    """``app.lambda_handler`` from the working directory, as Lambda's runtime imports it."""
    module_path, _, attribute = handler.rpartition(".")
    file = os.path.join(os.getcwd(), module_path.replace(".", "/") + ".py")
    cannot_import = f"Unable to import module '{module_path}'"
    if not os.path.isfile(file):
        raise _InitError("Runtime.ImportModuleError", f"{cannot_import}: no file {file}")
    spec = importlib.util.spec_from_file_location(module_path, file)
    if spec is None or spec.loader is None:
        raise _InitError("Runtime.ImportModuleError", cannot_import)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_path] = module  # pydantic and dataclasses look the module up by name
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        message = f"Syntax error in module '{module_path}': {exc}"
        raise _InitError("Runtime.UserCodeSyntaxError", message) from exc
    except ImportError as exc:
        raise _InitError("Runtime.ImportModuleError", f"{cannot_import}: {exc}") from exc
    except Exception as exc:
        raise _InitError(type(exc).__name__, str(exc)) from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        message = f"Handler '{attribute}' missing on module '{module_path}'"
        raise _InitError("Runtime.HandlerNotFound", message)
    return function


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def run_invocation(handler: Any, request: dict[str, Any]) -> dict[str, Any]:
    context = LambdaContext(request["request_id"], float(request["deadline"]))
    try:
        result = handler(request["event"], context)
    except Exception as exc:
        stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
        error_type = type(exc).__name__
        return {"payload": error_document(error_type, str(exc), stack), "error_type": error_type}
    try:
        return {"payload": json.dumps(result, default=_json_default), "error_type": None}
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        error_type = "Runtime.MarshalError"
        return {"payload": error_document(error_type, message), "error_type": error_type}


def report_slow_aws_calls(threshold: float) -> None:
    """A debugging aid (``STUDIO_LOCAL_SLOW_CALL_SECONDS``): every AWS call slower than this, on stderr."""
    import botocore.client

    original = botocore.client.BaseClient._make_api_call

    def timed(self: Any, operation: str, params: Any) -> Any:
        started = time.time()
        try:
            return original(self, operation, params)
        finally:
            took = time.time() - started
            if took > threshold:
                print(f"slow AWS call: {operation} took {took:.1f} s", file=sys.stderr, flush=True)

    botocore.client.BaseClient._make_api_call = timed


def serve(requests_fd: int, answers_fd: int) -> None:
    with (
        os.fdopen(requests_fd, "r", encoding="utf-8") as requests,
        os.fdopen(answers_fd, "w", encoding="utf-8") as answers,
    ):

        def answer(document: dict[str, Any]) -> None:
            answers.write(json.dumps(document) + "\n")
            answers.flush()

        try:
            handler = import_handler(os.environ["_HANDLER"])
        except _InitError as exc:
            answer({"init": "error", "errorType": exc.error_type, "errorMessage": str(exc)})
            return
        answer({"init": "ok"})
        for line in requests:
            answer(run_invocation(handler, json.loads(line)))
            sys.stdout.flush()
            sys.stderr.flush()


if __name__ == "__main__":
    # Python puts this script's directory first on the path; Lambda puts the task root there.
    sys.path[0] = os.getcwd()
    # On a timeout the runtime asks for every thread's stack (stderr) before it stops the process.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if os.environ.get("STUDIO_LOCAL_SLOW_CALL_SECONDS"):
        report_slow_aws_calls(float(os.environ["STUDIO_LOCAL_SLOW_CALL_SECONDS"]))
    serve(int(sys.argv[1]), int(sys.argv[2]))
