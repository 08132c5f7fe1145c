"""Every place this package reaches into moto beyond its HTTP API, in one module.

These are moto 5.2 internals (pyproject pins ``moto>=5.2.5,<5.3``); if a moto upgrade breaks
the local stack, this is the file to read first (with ``moto_map_run``, which closes the
Distributed Map gaps). The local stack runs moto in this same process, which is what makes
them reachable.
"""

from __future__ import annotations

import datetime
import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaBackend
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.parsing import clean_json, get_model_map
from moto.core.config import default_user_config
from moto.core.models import botocore_stubber
from moto.core.responses import EmptyResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.s3 import notifications as s3_notifications
from moto.s3.models import S3Backend
from moto.settings import moto_server_port
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.responses import StepFunctionResponse

__all__ = [
    "LambdaAnswer",
    "LambdaServe",
    "TooManyRequestsException",
    "cache_request_dispatch",
    "cloudformation_types",
    "map_lambda_api_errors_like_aws",
    "name_object_versions_in_s3_events",
    "pass_task_failure_causes",
    "resolve_in_stack",
    "route_lambda_invocations",
    "set_step_functions_config",
    "shape_step_functions_integration_like_aws",
    "speed_up_hot_paths",
    "step_functions_config",
]


class TooManyRequestsException(LambdaClientError):
    """What the Lambda API answers a throttled invoke: 429 ``TooManyRequestsException``."""

    code = 429

    def __init__(self, message: str) -> None:
        super().__init__("TooManyRequestsException", message)


def cloudformation_types() -> set[str]:
    """The resource types moto's CloudFormation can create (it skips the others with a log line)."""
    return set(get_model_map())


def resolve_in_stack(account_id: str, region: str, stack_id: str, value: Any) -> Any:
    """``value`` (a template fragment with ``Ref`` / ``Fn::GetAtt`` / ``Fn::Sub``...) as moto resolved it.

    Uses the deployed stack's own resource map, so the answer is what moto's CloudFormation
    put into the resources it created.
    """
    stack = cloudformation_backends[account_id][region].stacks[stack_id]
    return clean_json(value, stack.resource_map)


def step_functions_config() -> dict[str, Any]:
    """moto's Step Functions settings, e.g. ``{"execute_state_machine": True}`` (global to the process)."""
    return dict(default_user_config.get("stepfunctions", {}))


def set_step_functions_config(config: dict[str, Any]) -> None:
    default_user_config["stepfunctions"] = config  # type: ignore[typeddict-item]


# What a local Lambda answers: its payload (JSON bytes), and the error type when it raised.
LambdaAnswer = tuple[bytes, str | None]
# serve(function name, request body, request headers) -> the answer, or None to let moto answer.
LambdaServe = Callable[[str, Any, Any], LambdaAnswer | None]


def route_lambda_invocations(serve: LambdaServe) -> Callable[[], None]:
    """Answers moto's Lambda invocations in this process; returns the function that undoes it.

    The one hook for the local stack and the tests: moto (5.2) runs Lambda code only in Docker,
    and both ``lambda.invoke`` and its Step Functions Task states go through
    ``LambdaBackend.invoke(self, function_name, qualifier, body, headers, response_headers)``.
    An error is answered as Lambda does: header ``x-amz-function-error: Unhandled`` and the
    runtime's error payload, whose ``errorType`` is the Error name a state machine's Retry and
    Catch see. An exception ``serve`` raises (``TooManyRequestsException``) is moto's answer.
    """
    original = LambdaBackend.invoke
    if getattr(original, "_studio_local", False):
        raise RuntimeError("another in-process Lambda runtime already answers invocations in this process")

    def invoke(
        backend: LambdaBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, Any],
    ) -> str | bytes | None:
        name = backend.get_function(function_name, qualifier).function_name
        answer = serve(name, body, headers)
        if answer is None:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        payload, error_type = answer
        if error_type is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    invoke._studio_local = True  # type: ignore[attr-defined]
    LambdaBackend.invoke = invoke  # type: ignore[method-assign]

    def undo() -> None:
        LambdaBackend.invoke = original  # type: ignore[method-assign]

    return undo


_ORIGINAL_LAMBDA_TASK_ERROR = StateTaskLambda._from_error


_ORIGINAL_S3_EVENT = s3_notifications._get_s3_event


def name_object_versions_in_s3_events(enable: bool = True) -> None:
    """An S3 event of a versioned bucket names the object's ``versionId`` on AWS (ingest reads the
    object at that version); moto's event leaves it out. This adds it, as AWS writes it."""
    if not enable:
        s3_notifications._get_s3_event = _ORIGINAL_S3_EVENT
        return

    @functools.wraps(_ORIGINAL_S3_EVENT)
    def _get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        event: dict[str, Any] = _ORIGINAL_S3_EVENT(event_name, bucket, key, notification_id)
        version = getattr(key, "version_id", None)
        if version and version != "null":
            for record in event["Records"]:
                record["s3"]["object"]["versionId"] = version
        return event

    s3_notifications._get_s3_event = _get_s3_event


def map_lambda_api_errors_like_aws(enable: bool = True) -> None:
    """A Lambda-ARN Task whose ``Invoke`` call fails (a throttle: 429 ``TooManyRequestsException``)
    fails on AWS with the error ``Lambda.<ErrorCode>``, the name the recommended Retry lists.
    moto's interpreter names every such failure ``Exception``; this makes it name them as AWS does
    (moto's ``arn:aws:states:::lambda:invoke`` integration already does)."""
    if not enable:
        StateTaskLambda._from_error = _ORIGINAL_LAMBDA_TASK_ERROR  # type: ignore[method-assign]
        return

    @functools.wraps(_ORIGINAL_LAMBDA_TASK_ERROR)
    def _from_error(self: StateTaskLambda, env: Any, ex: Exception) -> FailureEvent:
        if not isinstance(ex, ClientError):
            return _ORIGINAL_LAMBDA_TASK_ERROR(self, env, ex)
        error = f"Lambda.{ex.response['Error']['Code']}"
        cause = ex.response["Error"].get("Message", "")
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)
            ),
        )

    StateTaskLambda._from_error = _from_error  # type: ignore[method-assign]


_ORIGINAL_SEND_TASK_FAILURE = StepFunctionResponse.send_task_failure


def pass_task_failure_causes(enable: bool = True) -> None:
    """``SendTaskFailure(taskToken, error, cause)`` hands the waiting Task both on AWS (a Catch's
    ResultPath gets ``{"Error", "Cause"}``); moto's HTTP handler reads only the error and passes the
    interpreter ``cause=None``. A cancelled review's reason ("cancelled by ... at ...") travels in
    the cause, so this passes it on, as the interpreter's backend already accepts it."""
    if not enable:
        StepFunctionResponse.send_task_failure = _ORIGINAL_SEND_TASK_FAILURE  # type: ignore[method-assign]
        return

    @functools.wraps(_ORIGINAL_SEND_TASK_FAILURE)
    def send_task_failure(self: StepFunctionResponse) -> Any:
        task_token = self._get_param("taskToken")
        error, cause = self._get_param("error"), self._get_param("cause")
        backend = self.stepfunction_backend
        try:
            backend.send_task_failure(task_token, error=error, cause=cause)  # type: ignore[call-arg]
        except TypeError:  # the backend without the interpreter takes no cause
            backend.send_task_failure(task_token, error=error)
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]


_ORIGINAL_SFN_PARAMETERS = StateTaskServiceSfn._normalise_parameters
_ORIGINAL_SFN_RESPONSE = StateTaskServiceSfn._normalise_response


@functools.cache
def _operation(service: str, action: str) -> Any:
    # Loading a service model reads and parses its JSON (tens of ms); it was a tenth of moto's
    # CPU with fifty catalogue rows running.
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model("".join(part.capitalize() for part in action.split("_")))


def shape_step_functions_integration_like_aws(enable: bool = True) -> None:
    """``arn:aws:states:::states:startExecution(.sync:2)`` as AWS runs it: the Task's Parameters are
    PascalCase (``StateMachineArn``, ``Name``, ``Input``) and its result is too (``ExecutionArn``,
    ``Output``). moto's port of the interpreter left out the conversion to boto3's names and back
    (``StateTaskService._normalise_parameters`` / ``_normalise_response`` do nothing), so the call
    fails on ``StateMachineArn``; this converts both ways with botocore's own model, as the
    interpreter it was ported from does."""
    if not enable:
        StateTaskServiceSfn._normalise_parameters = _ORIGINAL_SFN_PARAMETERS  # type: ignore[method-assign]
        StateTaskServiceSfn._normalise_response = _ORIGINAL_SFN_RESPONSE  # type: ignore[method-assign]
        return

    def _normalise_parameters(
        self: StateTaskServiceSfn,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        _ORIGINAL_SFN_PARAMETERS(self, parameters, boto_service_name, service_action_name)
        operation = _operation(
            self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
        )
        self._to_boto_request(parameters, operation.input_shape)

    def _normalise_response(
        self: StateTaskServiceSfn,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        operation = _operation(
            self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
        )
        self._from_boto_response(response, operation.output_shape)
        _dates_as_epoch_millis(response)

    StateTaskServiceSfn._normalise_parameters = _normalise_parameters  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_response = _normalise_response  # type: ignore[method-assign]


def _dates_as_epoch_millis(value: Any) -> None:
    """Timestamps in a Task's result are numbers (ms since the epoch), as in AWS's execution history."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in list(items):
        if isinstance(item, datetime.datetime):
            value[key] = int(item.timestamp() * 1000)
        else:
            _dates_as_epoch_millis(item)


_ORIGINAL_BACKEND_FOR_HOST = DomainDispatcherApplication.get_backend_for_host


def cache_request_dispatch(enable: bool = True) -> None:
    """moto's server finds the backend of every request under one process-wide lock, listing its
    package directory and trying hundreds of URL patterns each time: with tens of Lambdas calling
    at once, requests queue on that lock (measured: most of the server's busy time). The answer
    for a host never changes, so it is remembered per host."""
    if not enable:
        DomainDispatcherApplication.get_backend_for_host = _ORIGINAL_BACKEND_FOR_HOST  # type: ignore[method-assign]
        return
    found: dict[str | None, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in found:
            found[host] = _ORIGINAL_BACKEND_FOR_HOST(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


_ORIGINAL_RETENTION_CHECK = SQSBackend.is_message_valid_based_on_retention_period
_ORIGINAL_BOTO_CLIENT_FOR = lambda_eval_utils.boto_client_for
_ORIGINAL_ENTRYPOINT = ExecutionWorker._get_evaluation_entrypoint
_ORIGINAL_JSON_PATH_PARSE = json_path.parse
_ORIGINAL_LIST_OBJECT_VERSIONS = S3Backend.list_object_versions


class _KeysUnder:
    """A bucket's versioned keys seen through a prefix: what moto's listing iterates."""

    def __init__(self, keys: Any, prefix: str) -> None:
        self._keys, self._prefix = keys, prefix

    def iterlists(self) -> Any:
        return ((key, versions) for key, versions in self._keys.iterlists() if key.startswith(self._prefix))


class _BucketUnder:
    """One bucket whose listing sees only the keys under a prefix (``get_bucket`` is all
    ``S3Backend.list_object_versions`` asks of its backend)."""

    def __init__(self, bucket: Any, prefix: str) -> None:
        self.keys = _KeysUnder(bucket.keys, prefix)

    def get_bucket(self, bucket_name: str) -> Any:
        return self


def _list_object_versions_under_prefix(
    backend: S3Backend,
    bucket_name: str,
    delimiter: str | None = None,
    key_marker: str | None = None,
    max_keys: int | None = 1000,
    prefix: str = "",
    version_id_marker: str | None = None,
) -> Any:
    source: Any = _BucketUnder(backend.get_bucket(bucket_name), prefix) if prefix else backend
    return _ORIGINAL_LIST_OBJECT_VERSIONS(
        source, bucket_name, delimiter, key_marker, max_keys, prefix, version_id_marker
    )


def _give_heap_keys(component: Any, seen: set[int]) -> None:
    """Gives every component of a parsed program its heap key now: the key (where an execution keeps
    that component's state, e.g. its retry count) is otherwise made on first use, and two executions
    sharing the program must not each make one."""
    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EvalComponent):
        _ = component.heap_key
    children = (
        vars(component).values()
        if hasattr(component, "__dict__")
        else component
        if isinstance(component, list | tuple)
        else ()
    )
    for child in children:
        if hasattr(child, "__dict__") or isinstance(child, list | tuple):
            _give_heap_keys(child, seen)


def speed_up_hot_paths(enable: bool = True) -> None:
    """Two of moto's paths that grow with the load of a catalogue, for the local stack's load runs
    (measured with py-spy on 1,000 products; answers are unchanged):

    - SQS checks each message's retention by building the queue's whole attribute map, counting
      every message in it three times: O(messages) per message, a third of moto's CPU with
      1,000 messages queued. The retention period is read directly instead.
    - The state machine interpreter builds a new boto3 Lambda client (botocore's models and
      endpoint rules, tens of ms) for every Task; a fifth of moto's CPU. One client per region is
      kept (boto3 clients are thread-safe).
    - Every StartExecution parses the definition again with ANTLR (0.1 s of CPU for the job state
      machine; a seventh of moto's CPU with a catalogue running). The parsed program is kept per
      definition text: its components hold no execution's state (that lives in the execution's
      own environment, keyed by each component's heap key).
    - The interpreter parses every JSONPath (``$.job``) each time it reads one (a twentieth of
      moto's CPU); the parsed paths are kept per text (they are only read). DynamoDB's parse of an
      UpdateExpression is not kept: sharing it made the request budget's conditional updates race
      (tests/integration/test_capacity_limits.py failed one run in two).
    """
    if not enable:
        SQSBackend.is_message_valid_based_on_retention_period = _ORIGINAL_RETENTION_CHECK  # type: ignore[method-assign]
        lambda_eval_utils.boto_client_for = _ORIGINAL_BOTO_CLIENT_FOR
        ExecutionWorker._get_evaluation_entrypoint = _ORIGINAL_ENTRYPOINT  # type: ignore[method-assign]
        json_path.parse = _ORIGINAL_JSON_PATH_PARSE
        S3Backend.list_object_versions = _ORIGINAL_LIST_OBJECT_VERSIONS  # type: ignore[method-assign]
        return

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > time.time())

    clients: dict[tuple[str, str, bool, int], Any] = {}
    lock = threading.Lock()

    programs: dict[str, EvalComponent] = {}

    def get_evaluation_entrypoint(worker: ExecutionWorker) -> EvalComponent:
        definition = worker._evaluation_details.state_machine_details.definition
        with lock:
            program = programs.get(definition)
        if program is None:
            program = _ORIGINAL_ENTRYPOINT(worker)
            _give_heap_keys(program, set())
            with lock:
                program = programs.setdefault(definition, program)
        return program

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's own builder ignores the credentials too (any key is accepted); what it depends on
        # is whether calls are intercepted in process or go to a server, and that server's port,
        # so a client is kept per those (a later test's in-process moto gets a client of its own).
        key = (region, service, botocore_stubber.enabled, moto_server_port())
        with lock:
            if key not in clients:
                clients[key] = _ORIGINAL_BOTO_CLIENT_FOR(region, service)
            return clients[key]

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    lambda_eval_utils.boto_client_for = boto_client_for
    ExecutionWorker._get_evaluation_entrypoint = get_evaluation_entrypoint  # type: ignore[method-assign]
    json_path.parse = functools.lru_cache(maxsize=4096)(_ORIGINAL_JSON_PATH_PARSE)
    S3Backend.list_object_versions = _list_object_versions_under_prefix  # type: ignore[method-assign]
