"""Task "Submit generation to Aiuta": hand the images to Aiuta and create the operations."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.domain.state import JobState
from studio_core.observability import counting_aiuta_errors, logger, metrics, tracer
from studio_core.settings import PollSettings
from studio_core.steps.regenerate import start_regeneration_round
from studio_core.steps.submit import operation_creator, submit_job

ENV = clients.environment()
POLL = PollSettings.from_env()
# The idempotency record is not tied to the Lambda's remaining time on purpose: after a timeout
# mid-create, a retry fails loudly instead of possibly paying for a second operation.
create_once = operation_creator(ENV.idempotency_table or "", clients.aiuta_client)


@logger.inject_lambda_context(correlation_id_path="job_id")
@metrics.log_metrics
@counting_aiuta_errors
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def lambda_handler(state: JobState, context: LambdaContext) -> dict[str, Any]:
    if state.pending_round is not None:
        # A regeneration request (regenerate/<product>.json) starts straight at its round.
        state = start_regeneration_round(state, jobs=clients.jobs_table(), create=create_once, poll=POLL)
        return state.to_output()
    state = submit_job(
        state,
        client=clients.aiuta_client(),
        storage=clients.storage(),
        jobs=clients.jobs_table(),
        create=create_once,
        poll=POLL,
        url_ttl_seconds=ENV.presigned_url_ttl_seconds,
    )
    return state.to_output()
