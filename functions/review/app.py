"""The review's tasks: "Wait for review", "Apply the review decision", "Publish approved images",
"Close the review at its deadline" (the state's Parameters name the task)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.aiuta.cleanup import delete_at_aiuta
from studio_core.aws.publishing import Publisher
from studio_core.domain.record import JobRecord
from studio_core.domain.state import JobState
from studio_core.observability import counting_aiuta_errors, logger, metrics, tracer
from studio_core.settings import ReviewSettings, from_env
from studio_core.steps.review import Review, ReviewTask, run_review_task

SETTINGS = from_env(ReviewSettings)
STORAGE = clients.storage(SETTINGS.studio_bucket)
EVENTS = clients.job_events(SETTINGS.event_bus_name)


def _clean_up(state: JobState, record: JobRecord) -> list[str]:
    return delete_at_aiuta(state, record.images, clients.aiuta_client(SETTINGS))


REVIEW = Review(
    storage=STORAGE,
    jobs=clients.jobs_table(SETTINGS.jobs_table),
    publisher=Publisher(
        STORAGE, clients.published_feed(SETTINGS.jobs_table), SETTINGS.published_base_url, EVENTS
    ),
    events=EVENTS,
    clean_up=_clean_up,
    delete_after_copy_default=SETTINGS.delete_at_aiuta_after_copy,
)


@logger.inject_lambda_context(correlation_id_path="job_id || state.job_id")
@metrics.log_metrics
@counting_aiuta_errors
@tracer.capture_lambda_handler
@event_parser(model=ReviewTask)
def lambda_handler(task: ReviewTask, context: LambdaContext) -> dict[str, Any]:
    return run_review_task(REVIEW, task)
