"""Task "Copy results to S3": copy, check, record, and decide on another regeneration round."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.aws.downloads import MIB, DownloadLimits
from studio_core.domain.state import JobState
from studio_core.observability import counting_aiuta_errors, logger, metrics, tracer
from studio_core.settings import FinalizeSettings, from_env
from studio_core.steps.finalize import finalize_job

SETTINGS = from_env(FinalizeSettings)
LIMITS = DownloadLimits(
    max_bytes=SETTINGS.result_image_max_megabytes * MIB,
    max_seconds=SETTINGS.result_image_copy_seconds,
    allow_loopback=SETTINGS.allow_loopback_urls,
)


@logger.inject_lambda_context(correlation_id_path="job_id")
@metrics.log_metrics
@counting_aiuta_errors
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def lambda_handler(state: JobState, context: LambdaContext) -> dict[str, Any]:
    state = finalize_job(
        state,
        client=clients.aiuta_client(SETTINGS),
        storage=clients.storage(SETTINGS.studio_bucket),
        jobs=clients.jobs_table(SETTINGS.jobs_table),
        delete_after_copy_default=SETTINGS.delete_at_aiuta_after_copy,
        events=clients.job_events(SETTINGS.event_bus_name),
        budget=clients.image_budget(SETTINGS.jobs_table, SETTINGS.budget.images_per_day_limit),
        limits=LIMITS,
        review_deadline_seconds=SETTINGS.review_deadline_seconds,
        answers=clients.operation_answers(SETTINGS.studio_bucket),
    )
    return state.to_output()
