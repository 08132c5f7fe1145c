"""Task "Check operation status": ask Aiuta how the round is going and plan the next wait
(checking again in-process across waits too short for a turn of the loop)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.domain.state import JobState
from studio_core.observability import counting_aiuta_errors, logger, metrics, tracer
from studio_core.settings import CheckStatusSettings, from_env
from studio_core.steps.check_status import check_across_short_waits

SETTINGS = from_env(CheckStatusSettings)


@logger.inject_lambda_context(correlation_id_path="job_id")
@metrics.log_metrics
@counting_aiuta_errors
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def lambda_handler(state: JobState, context: LambdaContext) -> dict[str, Any]:
    state = check_across_short_waits(
        state,
        client=clients.aiuta_client(SETTINGS),
        jobs=clients.jobs_table(SETTINGS.jobs_table),
        poll=SETTINGS.poll,
        estimates=clients.duration_estimates(SETTINGS.jobs_table),
        answers=clients.operation_answers(SETTINGS.studio_bucket),
        in_lambda_seconds=SETTINGS.poll_in_lambda_seconds,
        remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
        memory_mb=int(context.memory_limit_in_mb),
        rate_pressure=clients.rate_pressure(SETTINGS),
    )
    return state.to_output()
