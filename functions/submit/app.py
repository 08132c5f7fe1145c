"""Task "Submit generation to Aiuta": hand the images to Aiuta and create the operations."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.aiuta.operations import operation_creator
from studio_core.domain.state import JobState
from studio_core.observability import counting_aiuta_errors, logger, metrics, tracer
from studio_core.settings import SubmitSettings, from_env
from studio_core.steps.submit import submit_job

SETTINGS = from_env(SubmitSettings)
# The idempotency record is not tied to the Lambda's remaining time on purpose: after a timeout
# mid-create, a retry fails loudly instead of possibly paying for a second operation.
create_once = operation_creator(SETTINGS.idempotency_table, lambda: clients.aiuta_client(SETTINGS))


@logger.inject_lambda_context(correlation_id_path="job_id")
@metrics.log_metrics
@counting_aiuta_errors
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def lambda_handler(state: JobState, context: LambdaContext) -> dict[str, Any]:
    client = clients.aiuta_client(SETTINGS)
    client.register_lambda_context(context)  # a create leaves only with time to hear its answer
    state = submit_job(
        state,
        client=client,
        storage=clients.storage(SETTINGS.studio_bucket),
        jobs=clients.jobs_table(SETTINGS.jobs_table),
        create=create_once,
        poll=SETTINGS.poll,
        estimates=clients.duration_estimates(SETTINGS.jobs_table),
        url_ttl_seconds=SETTINGS.presigned_url_ttl_seconds,
        rate_pressure=clients.rate_pressure(SETTINGS),
        creates_waiting=clients.creates_waiting(SETTINGS),
    )
    return state.to_output()
