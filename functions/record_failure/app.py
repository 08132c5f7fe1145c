"""Task "Record failure": the job's terminal FAILED or TIMED_OUT record, with its reason."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.domain.state import JobState
from studio_core.observability import logger, metrics, tracer
from studio_core.settings import RecordFailureSettings, from_env
from studio_core.steps.record_failure import record_failure

SETTINGS = from_env(RecordFailureSettings)


@logger.inject_lambda_context(correlation_id_path="job_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def lambda_handler(state: JobState, context: LambdaContext) -> dict[str, Any]:
    state = record_failure(
        state,
        jobs=clients.jobs_table(SETTINGS.jobs_table),
        storage=clients.storage(SETTINGS.studio_bucket),
        events=clients.job_events(SETTINGS.event_bus_name),
    )
    return state.to_output()
