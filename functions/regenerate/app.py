"""Task "Start regeneration round": regenerate chosen on-figure types from the last operation (and
create the new operations a review decision asks for)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.aiuta.operations import operation_creator
from studio_core.domain.state import JobState
from studio_core.observability import counting_aiuta_errors, logger, metrics, tracer
from studio_core.settings import RegenerateSettings, from_env
from studio_core.steps.regenerate import start_regeneration_round
from studio_core.steps.submit import product_info_for

SETTINGS = from_env(RegenerateSettings)
create_once = operation_creator(SETTINGS.idempotency_table, lambda: clients.aiuta_client(SETTINGS))


@logger.inject_lambda_context(correlation_id_path="job_id")
@metrics.log_metrics
@counting_aiuta_errors
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def lambda_handler(state: JobState, context: LambdaContext) -> dict[str, Any]:
    jobs = clients.jobs_table(SETTINGS.jobs_table)
    # A create leaves only with time to hear its answer.
    clients.aiuta_client(SETTINGS).register_lambda_context(context)
    state = start_regeneration_round(
        state,
        jobs=jobs,
        create=create_once,
        poll=SETTINGS.poll,
        estimates=clients.duration_estimates(SETTINGS.jobs_table),
        # A review's new operations are made from the job's inputs, as submit gave them to Aiuta.
        product_info=lambda: product_info_for(
            state,
            storage=clients.storage(SETTINGS.studio_bucket),
            client=clients.aiuta_client(SETTINGS),
            url_ttl_seconds=SETTINGS.presigned_url_ttl_seconds,
            jobs=jobs,
        ),
        rate_pressure=clients.rate_pressure(SETTINGS),
    )
    return state.to_output()
