"""What moto's Distributed Map (5.2) does not do as AWS does, closed for the catalogue state machine.

Read from moto's ``stepfunctions/parser/asl/component/state/exec/state_map/``:

- ``ItemReader`` reads ``CSV`` and ``JSON`` only (``InputTypeValue``); ``JSONL``, which AWS reads
  (one item per line), makes the definition unparseable. Here ``JSONL`` is read line by line, blank
  lines skipped, a line that is not JSON failing the map run with ``States.ItemReaderFailed``, as
  AWS fails it.
- ``ResultWriter`` writes only ``<prefix>/<map run id>/manifest.json``, with empty ``ResultFiles``,
  and drops the results (``# TODO: results``). Here each item's outcome is kept as it ends (its
  input after the ItemSelector, its output, or its error and cause) and the ResultWriter writes
  ``SUCCEEDED_0.json`` and ``FAILED_0.json`` with AWS's fields, listed in the manifest.
- Each of the map run's workers takes its next item by calling itself (``_eval_pool``), one Python
  frame deeper per item: a worker with about 250 items or more (10,000 rows at MaxConcurrency 10:
  1,000 each) dies of ``RecursionError`` and the map run never ends. Here a worker loops instead,
  doing the same steps.
- ``startExecution.sync`` polls ``DescribeExecution`` every 0.5 s per running item; with tens of
  items running for minutes that is most of the machine. Here it polls every 2 s.

Failure toleration: moto counts a failed item and goes on (as ``ToleratedFailurePercentage: 100``
does); the catalogue asks for exactly that, so nothing is changed there.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
from typing import Any

from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader import item_reader_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_output_transformer.transformer import (  # noqa: E501
    ResourceOutputTransformer,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.reader_config.input_type import (  # noqa: E501
    InputType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker as worker_module,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
    resource_eval_s3 as result_writer_module,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback as callback_module,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

SYNC_POLL_SECONDS = 2.0
ITEMS_ATTRIBUTE = "_studio_local_items"


class _JsonLines(str):
    """``InputType: JSONL``, which moto's enum has no member for."""


JSONL = _JsonLines("JSONL")


class JsonLinesTransformer(ResourceOutputTransformer):
    """The ItemReader's items of a JSON-lines object: one per non-blank line."""

    def _eval_body(self, env: Environment) -> None:
        reader_config = env.stack.pop()
        text: str = env.stack.pop()
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as exc:
                error = StatesErrorName(typ=StatesErrorNameType.StatesItemReaderFailed)
                details = MapRunFailedEventDetails(
                    error=error.error_name, cause=f"line {number} is not JSON: {exc.args[0]}"
                )
                raise FailureEventException(
                    FailureEvent(
                        env=env,
                        error_name=error,
                        event_type=HistoryEventType.TaskFailed,
                        event_details=EventDetails(mapRunFailedEventDetails=details),
                    )
                ) from None
        env.stack.append(items[: reader_config["MaxItemsValue"]])


_originals: dict[str, Any] = {}


def install() -> None:
    """Close the gaps (process-wide, like moto's backends); ``uninstall()`` restores moto."""
    if _originals:
        return
    _originals["input_type_init"] = InputType.__init__
    _originals["transformer_for"] = item_reader_decl.resource_output_transformer_for
    _originals["eval_input"] = worker_module.DistributedItemProcessorWorker._eval_input
    _originals["eval_job"] = worker_module.DistributedItemProcessorWorker._eval_job
    _originals["eval_pool"] = worker_module.DistributedItemProcessorWorker._eval_pool
    _originals["put_object"] = result_writer_module.ResourceEvalS3._handle_put_object
    _originals["sync_poll"] = callback_module._DELAY_SECONDS_SYNC_CONDITION_CHECK

    def input_type_init(self: InputType, input_type: str) -> None:
        if input_type == JSONL:
            self.input_type_value = JSONL  # type: ignore[misc]
            return
        _originals["input_type_init"](self, input_type)

    def transformer_for(input_type: InputType) -> ResourceOutputTransformer:
        if input_type.input_type_value is JSONL:
            return JsonLinesTransformer()
        return _originals["transformer_for"](input_type)  # type: ignore[no-any-return]

    InputType.__init__ = input_type_init  # type: ignore[method-assign]
    item_reader_decl.resource_output_transformer_for = transformer_for
    worker_module.DistributedItemProcessorWorker._eval_input = _eval_input_kept  # type: ignore[method-assign]
    worker_module.DistributedItemProcessorWorker._eval_job = _eval_job_recorded  # type: ignore[method-assign]
    worker_module.DistributedItemProcessorWorker._eval_pool = _eval_pool_looping  # type: ignore[method-assign]
    result_writer_module.ResourceEvalS3._handle_put_object = staticmethod(_write_results)  # type: ignore[assignment]
    callback_module._DELAY_SECONDS_SYNC_CONDITION_CHECK = SYNC_POLL_SECONDS  # type: ignore[misc]


def uninstall() -> None:
    if not _originals:
        return
    InputType.__init__ = _originals["input_type_init"]  # type: ignore[method-assign]
    item_reader_decl.resource_output_transformer_for = _originals["transformer_for"]
    worker_module.DistributedItemProcessorWorker._eval_input = _originals["eval_input"]  # type: ignore[method-assign]
    worker_module.DistributedItemProcessorWorker._eval_job = _originals["eval_job"]  # type: ignore[method-assign]
    worker_module.DistributedItemProcessorWorker._eval_pool = _originals["eval_pool"]  # type: ignore[method-assign]
    result_writer_module.ResourceEvalS3._handle_put_object = staticmethod(_originals["put_object"])  # type: ignore[assignment]
    callback_module._DELAY_SECONDS_SYNC_CONDITION_CHECK = _originals["sync_poll"]  # type: ignore[misc]
    _originals.clear()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def _eval_pool_looping(self: Any, job: Any, worker_frame: Environment) -> None:
    """moto's ``_eval_pool``, step for step, with its tail call made a loop."""
    while True:
        if job is None:
            self._env.delete_frame(worker_frame)
            return
        job_frame = worker_frame.open_inner_frame()
        self._eval_job(env=job_frame, job=job)
        worker_frame.delete_frame(job_frame)
        # The job failed the whole run, or the worker was stopped.
        if isinstance(job.job_output, Exception) or self.stopped():
            self._env.delete_frame(worker_frame)
            self._job_pool.close_job(job)
            return
        next_job = self._job_pool.next_job()
        if next_job is None:
            # The frame is closed before the job, as moto does: the map awaits its jobs, not its workers.
            self._env.delete_frame(worker_frame)
            self._job_pool.close_job(job)
            return
        self._job_pool.close_job(job)
        job = next_job


@functools.wraps(worker_module.DistributedItemProcessorWorker._eval_input)
def _eval_input_kept(self: Any, env_frame: Environment) -> None:
    _originals["eval_input"](self, env_frame)
    # The child's input (after the ItemSelector), which AWS puts in the result files' "Input".
    env_frame.studio_local_item_input = copy.deepcopy(env_frame.states.get_input())  # type: ignore[attr-defined]


@functools.wraps(worker_module.DistributedItemProcessorWorker._eval_job)
def _eval_job_recorded(self: Any, env: Environment, job: Any) -> None:
    started = _now()
    _originals["eval_job"](self, env, job)
    record = self._map_run_record
    item: dict[str, Any] = {
        "Name": f"{job.job_index}",
        "ExecutionArn": f"{record.map_run_arn.replace(':mapRun:', ':execution:')}:{job.job_index}",
        "StateMachineArn": record.map_state_machine_arn,
        "Input": json.dumps(getattr(env, "studio_local_item_input", job.job_input)),
        "InputDetails": {"Included": True},
        "StartDate": started,
        "StopDate": _now(),
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
    }
    state = env.program_state()
    if isinstance(state, ProgramError):
        error = state.error or {}
        item |= {"Status": "FAILED", "Error": error.get("error", ""), "Cause": error.get("cause", "")}
    elif isinstance(state, ProgramStopped):
        item |= {"Status": "ABORTED"}
    elif job.job_output is None:
        item |= {"Status": "FAILED", "Error": "States.Runtime", "Cause": "the item ended without an output"}
    else:
        item |= {
            "Status": "SUCCEEDED",
            "Output": json.dumps(job.job_output),
            "OutputDetails": {"Included": True},
        }
    items = record.__dict__.setdefault(ITEMS_ATTRIBUTE, [])
    items.append(item)


def _write_results(env: Environment, resource_runtime_part: Any, state_credentials: Any) -> None:
    """ResultWriter as AWS writes it: the manifest and one file per status, under the map run's id."""
    parameters = env.stack.pop()
    env.stack.pop()  # the outputs moto collected: the items kept above say more
    record = env.map_run_record_pool_manager.get_all().pop()
    prefix = parameters.get("Prefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    folder = f"{prefix}{record.map_run_arn.split(':')[-1]}/"
    s3 = boto_client_for(
        service="s3", region=resource_runtime_part.region, state_credentials=state_credentials
    )
    items = sorted(record.__dict__.get(ITEMS_ATTRIBUTE, []), key=lambda i: int(i["Name"]))
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status in ("SUCCEEDED", "FAILED"):
        chosen = [i for i in items if i["Status"] == status]
        if not chosen:
            continue
        body = json.dumps(chosen).encode()
        key = f"{folder}{status}_0.json"
        s3.put_object(Bucket=parameters["Bucket"], Key=key, Body=body)
        files[status].append({"Key": key, "Size": len(body)})
    manifest = {
        "DestinationBucket": parameters["Bucket"],
        "MapRunArn": record.map_run_arn,
        "ResultFiles": files,
    }
    manifest_key = f"{folder}manifest.json"
    s3.put_object(Bucket=parameters["Bucket"], Key=manifest_key, Body=json.dumps(manifest, indent=2).encode())
    env.stack.append(
        {
            "MapRunArn": record.map_run_arn,
            "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": manifest_key},
        }
    )
