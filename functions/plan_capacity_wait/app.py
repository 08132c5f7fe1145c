"""Task "Plan the wait for capacity": how long the job waits for Aiuta (or a Lambda) to have room."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.observability import logger, metrics, tracer
from studio_core.settings import CapacityWaitSettings, from_env
from studio_core.steps.capacity_wait import plan_wait

SETTINGS = from_env(CapacityWaitSettings)


@logger.inject_lambda_context(correlation_id_path="job_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The whole job state passes through; only $.capacity_error and $.capacity are the planner's.
    return plan_wait(event, settings=SETTINGS, room=clients.waiting_room(SETTINGS.capacity))
