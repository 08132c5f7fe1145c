"""What moto's Distributed Map (5.2) does not do as AWS does, closed for the catalogue state machine.

Read from moto's ``stepfunctions/parser/asl/component/state/exec/state_map/``:

- Each of the map run's workers takes its next item by calling itself (``_eval_pool``), one Python
  frame deeper per item: a worker with about 250 items or more (10,000 rows at MaxConcurrency 10:
  1,000 each) dies of ``RecursionError`` and the map run never ends. Here a worker loops instead,
  doing the same steps.
- ``startExecution.sync`` polls ``DescribeExecution`` every 0.5 s per running item; with tens of
  items running for minutes that is most of the machine. Here it polls every 2 s.

The catalogue reads its own JSON item list (the check writes it, CSV and JSONL alike) and builds
its report from the jobs' records, so moto's ItemReader (CSV and JSON, no JSONL) and its
ResultWriter (a manifest without the results) serve it as they are. Failure toleration: moto
counts a failed item and goes on (as ``ToleratedFailurePercentage: 100`` does).
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker as worker_module,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback as callback_module,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment

SYNC_POLL_SECONDS = 2.0


_originals: dict[str, Any] = {}


def install() -> None:
    """Close the gaps (process-wide, like moto's backends); ``uninstall()`` restores moto."""
    if _originals:
        return
    _originals["eval_pool"] = worker_module.DistributedItemProcessorWorker._eval_pool
    _originals["sync_poll"] = callback_module._DELAY_SECONDS_SYNC_CONDITION_CHECK
    worker_module.DistributedItemProcessorWorker._eval_pool = _eval_pool_looping  # type: ignore[method-assign]
    callback_module._DELAY_SECONDS_SYNC_CONDITION_CHECK = SYNC_POLL_SECONDS  # type: ignore[misc]


def uninstall() -> None:
    if not _originals:
        return
    worker_module.DistributedItemProcessorWorker._eval_pool = _originals["eval_pool"]  # type: ignore[method-assign]
    callback_module._DELAY_SECONDS_SYNC_CONDITION_CHECK = _originals["sync_poll"]  # type: ignore[misc]
    _originals.clear()


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
